"""Queue benchmark: MoneyPrinter's queue and procrastinate's, side by side on one Postgres."""
