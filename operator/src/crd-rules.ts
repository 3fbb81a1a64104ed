/**
 * Reusable pieces of the PushCluster schema: the string rules (checked by the API server as
 * CEL with these messages, and by the operator with the same regexes; schema.ts `matches`)
 * and the small shared shapes. The rules follow the node's own settings checks
 * (server/src/config.ts), so a spec the API server accepts yields pods that start.
 */
import { matches, obj, oneOf, str } from "./schema.js";

export const DNS_LABEL = matches(
  "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
  "must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit",
);

/** Every per-node address of the region differs only by `{node}`, so it must be in the host. */
export const URL_TEMPLATE = matches(
  "^wss?://[A-Za-z0-9.-]*[{]node[}][A-Za-z0-9.-]*(:[0-9]{1,5})?/?$",
  "must be ws:// or wss://, then a host containing {node} (replaced by the pod name), an optional :port and no path, e.g. wss://{node}.push.example.com",
);
export const HTTP_URL = matches(
  "^https?://[^/?#\\s]+(/[^?#\\s]*)?$",
  "must be an http:// or https:// URL without query or fragment, e.g. https://push.example.com",
);
export const ETCD_ENDPOINT = matches(
  "^https?://[^/,\\s]+$",
  "must be one http(s)://host:port etcd client URL without a path, e.g. http://etcd-eu:2379",
);
export const REDIS_URL = matches(
  "^rediss?://\\S+$",
  "must be a redis:// or rediss:// URL (cluster mode: a comma-separated list of them)",
);
export const HOST_PORT = matches(
  "^[^\\s:/,]+:[0-9]{1,5}$",
  "must be host:port, e.g. sentinel-0:26379",
);
export const NO_SPACE = matches("^\\S+$", "must not be empty or contain spaces");

export const secretKeyRef = (defaultKey: string, description: string) =>
  obj(
    {
      name: str({
        description: "Secret name, in the PushCluster's namespace.",
        maxLength: 253,
        "x-kubernetes-validations": [
          matches(
            "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$",
            "must be a Secret name: lowercase letters, digits, '-' and '.'",
          ),
        ],
      }),
      key: str({
        description: `Key inside the Secret (default "${defaultKey}").`,
        default: defaultKey,
        maxLength: 253,
        "x-kubernetes-validations": [
          matches("^[-._a-zA-Z0-9]+$", "must be a Secret key: letters, digits, '-', '_' and '.'"),
        ],
      }),
    },
    { description },
  );

export const serviceType = (what: string) =>
  oneOf(["ClusterIP", "NodePort", "LoadBalancer"], {
    default: "ClusterIP",
    description: `Kubernetes Service type of ${what}.`,
  });
