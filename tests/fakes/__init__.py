"""Real HTTP servers on loopback that speak outside services' documented protocols."""
