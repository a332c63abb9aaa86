//! The merged raw files into a [`Config`]: the one place one is built.
//! Each section's module sets its keys on the defaults; bad values are
//! reported (and leave the default) until [`Checker::finish`] sorts them.

use crate::check::Checker;
use crate::load::Sources;
use crate::{
    Config, ConfigError, alerts, auto, database, http, limits, line_protocol, ops, probes, raw,
    services, status_page, views,
};

/// The merged raw files, validated.
pub(crate) fn from_raw(raw: raw::File, sources: &Sources) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    let mut c = Checker::new(sources);
    // Entries first: the views name them.
    alerts::apply_entries(&mut c, &mut config.alert, raw.alerts);
    let (mail, mailgun, slack) = (raw.mail, raw.mailgun, raw.slack);
    alerts::apply_sending(
        &mut c,
        &mut config.alert,
        raw.public_url,
        mail,
        mailgun,
        slack,
    );
    alerts::apply_delivery(&mut c, &mut config.alert, raw.delivery);
    views::apply(&mut c, &mut config, raw.alarms, raw.views);
    ops::apply_notify(&mut c, &mut config.peers, raw.notify);
    database::apply(&mut c, &mut config.database, raw.database);
    line_protocol::apply(&mut c, &mut config, raw.udp, raw.tcp);
    http::apply(&mut c, &mut config, raw.http);
    ops::apply(&mut c, &mut config, raw.metrics, raw.eventlog, raw.peers);
    ops::apply_prometheus(&mut c, &mut config, raw.prometheus);
    auto::apply(&mut c, &mut config.engine, raw.auto);
    limits::apply(&mut c, &mut config, raw.limits);
    config.checks = probes::checks(&mut c, raw.checks);
    config.probes = probes::probes(&mut c, raw.probes);
    config.status_page = status_page::apply(&mut c, raw.status_page);
    config.services = services::apply(&mut c, raw.services);
    c.finish(config)
}
