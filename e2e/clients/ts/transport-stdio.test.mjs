// The shared MCP scenarios over stdio.
import { transportSuite } from "./lib/scenarios.mjs";

transportSuite("stdio");
