//! The MCP server: the tools of [`tools`] over the execution service, served on stdio,
//! Streamable HTTP and legacy SSE by the same handler.

pub mod description;
mod handler;
pub mod tools;

pub use handler::McpServer;
