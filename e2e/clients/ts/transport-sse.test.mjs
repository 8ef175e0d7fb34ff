// The shared MCP scenarios over sse.
import { transportSuite } from "./lib/scenarios.mjs";

transportSuite("sse");
