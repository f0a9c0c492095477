//! The dashboard's page, script and style, compiled into the binary: the dashboard works
//! offline and its files always match the API they call.

/// The one HTML page; its script renders the page for the path it was loaded at.
pub const INDEX_HTML: &str = include_str!("assets/index.html");

/// An asset by file name, with its media type.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "app.js" => Some((
            "text/javascript; charset=utf-8",
            include_str!("assets/app.js"),
        )),
        "app.css" => Some(("text/css; charset=utf-8", include_str!("assets/app.css"))),
        _ => None,
    }
}
