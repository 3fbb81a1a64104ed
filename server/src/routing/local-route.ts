/** Routing for a single self-contained node: the socket is here or nowhere. */
import type { LocalDelivery, Push, Route, RouteResult } from "./route.js";

export class LocalRoute implements Route {
  constructor(
    private readonly local: LocalDelivery,
    /** Whether the node is overloaded (store too slow): shed new PUTs. */
    private readonly overloaded: () => boolean = () => false,
  ) {}

  route(uaid: string, push: Push): RouteResult {
    return this.local.deliver(uaid, push) === true ? "delivered" : "absent";
  }

  shedding(): boolean {
    return this.overloaded();
  }
}
