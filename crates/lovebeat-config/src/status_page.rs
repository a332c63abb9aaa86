//! `[status_page]`: what the public status page shows, into the HTTP
//! crate's [`StatusPageSettings`].

use lovebeat_http::StatusPageSettings;
use toml::Spanned;

use crate::check::Checker;
use crate::raw;

/// The default `[status_page]`: every view, the services in none.
pub(crate) fn default_status_page() -> StatusPageSettings {
    StatusPageSettings {
        title: "Status".to_owned(),
        views: Vec::new(),
        services: Vec::new(),
    }
}

/// `[status_page]` over its defaults.
pub(crate) fn apply(c: &mut Checker<'_>, raw: raw::StatusPage) -> StatusPageSettings {
    let d = default_status_page();
    let strings = |list: Vec<Spanned<String>>| list.into_iter().map(Spanned::into_inner).collect();
    let services = raw
        .services
        .map(Spanned::into_inner)
        .map_or_else(Vec::new, strings);
    StatusPageSettings {
        title: c.value("[status_page] title", raw.title, d.title, Ok),
        views: raw
            .views
            .map(Spanned::into_inner)
            .map_or_else(Vec::new, strings),
        services,
    }
}
