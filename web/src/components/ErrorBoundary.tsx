/** Catches a render error anywhere below and shows it, with a way back. */
import { Component, type ComponentChildren } from "preact";

interface Props {
  children: ComponentChildren;
  resetKey?: string; // a new route clears the error
}

export class ErrorBoundary extends Component<Props, { error: Error | null; key?: string }> {
  state = { error: null as Error | null, key: this.props.resetKey };

  static getDerivedStateFromProps(props: Props, state: { error: Error | null; key?: string }) {
    return props.resetKey !== state.key ? { error: null, key: props.resetKey } : null;
  }

  componentDidCatch(error: Error) {
    console.error(error);
    this.setState({ error });
  }

  render() {
    const { error } = this.state;
    if (!error) return this.props.children;
    return (
      <section class="panel error-page" role="alert">
        <h1>Something went wrong</h1>
        <p>{error.message || String(error)}</p>
        <p>
          <button type="button" onClick={() => location.reload()}>
            Reload the page
          </button>{" "}
          <a href="#/">Back to Create</a>
        </p>
      </section>
    );
  }
}
