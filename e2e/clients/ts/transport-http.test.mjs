// The shared MCP scenarios over http.
import { transportSuite } from "./lib/scenarios.mjs";

transportSuite("http");
