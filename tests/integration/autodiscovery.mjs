// matrix-js-sdk's AutoDiscovery, as a client runs it at login, against a
// server row: node autodiscovery.mjs SDK_DIR ROW_PORT DOMAIN.  Prints the
// client configuration it found, as JSON.
//
// The one thing put in between is the origin of the first request:
// AutoDiscovery asks https://DOMAIN/, and the row serves plain HTTP on a
// port of its own, so that URL is sent to http://DOMAIN:ROW_PORT/.  Every
// other request, the redirect's target and /versions included, goes out
// as the SDK sends it, through Node's fetch, which follows the redirect
// as it does for the SDK in production.
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [sdk, port, domain] = process.argv.slice(2);
const { AutoDiscovery } = await import(
	pathToFileURL(join(sdk, "node_modules", "matrix-js-sdk", "lib", "autodiscovery.js")).href);

AutoDiscovery.setFetchFn((resource, init) => {
	const url = new URL(resource);
	if (url.protocol === "https:" && url.hostname === domain) {
		url.protocol = "http:";
		url.port = port;
	}
	return globalThis.fetch(url.href, init);
});

const config = await AutoDiscovery.findClientConfig(domain);
// Then exit, rather than wait with the event loop for the idle kept-alive
// connections of fetch to time out (5 s a row).
process.stdout.write(JSON.stringify(config) + "\n", () => process.exit(0));
