/** Messages on a page: errors (the API's `message`), warnings and confirmations. */
import type { ComponentChildren } from "preact";

export function Notice(props: { kind?: "error" | "warning" | "success" | "info"; children: ComponentChildren }) {
  const kind = props.kind ?? "info";
  return (
    <div class={`notice notice-${kind}`} role={kind === "error" ? "alert" : "status"}>
      {props.children}
    </div>
  );
}

export function Loading(props: { what?: string }) {
  return (
    <p class="muted" aria-busy="true">
      Loading{props.what ? ` ${props.what}` : ""}…
    </p>
  );
}
