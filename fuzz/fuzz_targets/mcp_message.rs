//! The MCP profile's reading of a JSON-RPC message body, against serde_json's: whatever the
//! profile accepts, serde_json (what rmcp parses with) must read with the same method and,
//! for a `tools/call`, the same tool. A difference is a call that could run under another
//! tool's requirement.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(tool) = portcullis_tower::internal::mcp_tool_of(data) else {
        return;
    };
    // serde_json refusing what the profile accepted (a number beyond f64) is safe: the
    // server then refuses the message. Reading it differently is not.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let method = value.get("method").and_then(|m| m.as_str());
    let name = value
        .get("params")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str());
    match tool {
        Some(tool) => {
            assert_eq!(method, Some("tools/call"));
            assert_eq!(name, Some(tool.as_str()));
        }
        None => assert_ne!(method, Some("tools/call")),
    }
});
