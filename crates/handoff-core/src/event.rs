//! The event model: everything handoff knows arrives as an event.
//!
//! An *event* is one fact with an `id` (unique, used for idempotency), a
//! `type` and an occurrence instant `at`. Events are the only input of the
//! engine; all derived state (stages, clocks, breaches, alerts, metrics) is a
//! function of the set of events and the policy. The JSON Lines form of these
//! types is documented in `docs/events.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

/// Identifier of an account (a company, or a lone lead).
///
/// The OpenAPI schemas cannot see through a type alias, so each field of
/// this type says `value_type = String` for them; so does [`RepId`].
pub type AccountId = String;
/// Identifier of a rep.
pub type RepId = String;

/// One fact, as read from JSON Lines or the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Unique id; a second event with the same id is a duplicate or a
    /// conflict, never a new fact.
    pub id: String,
    /// When it happened, RFC 3339 with an offset. Order of arrival is
    /// irrelevant: the engine orders by this instant.
    pub at: DateTime<FixedOffset>,
    /// What happened.
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    /// The occurrence instant in UTC.
    pub fn at_utc(&self) -> DateTime<Utc> {
        self.at.with_timezone(&Utc)
    }

    /// The event's `type` as written in JSON.
    pub fn type_name(&self) -> &'static str {
        self.body.type_name()
    }

    /// Parses one JSON object, naming the field at fault on error.
    ///
    /// The derived `Deserialize` (a `type`-tagged body flattened beside
    /// `id` and `at`) buffers every field of the object before it can pick
    /// the body's type. Replays parse the whole log, so this reads the
    /// object twice instead, without buffering: once for `id`, `at` and
    /// `type`, skipping the rest, then straight into the body's own type
    /// (the bodies have no `id` or `at` field and ignore unknown ones).
    /// Whatever this path refuses goes through the derived one, so results
    /// and error messages are the derived `Deserialize`'s.
    pub fn from_json(text: &str) -> Result<Event, serde_json::Error> {
        Event::from_json_direct(text).or_else(|_| serde_json::from_str(text))
    }

    fn from_json_direct(text: &str) -> Result<Event, serde_json::Error> {
        #[derive(Deserialize)]
        struct Head<'a> {
            id: String,
            at: DateTime<FixedOffset>,
            #[serde(rename = "type", borrow)]
            kind: std::borrow::Cow<'a, str>,
        }
        fn body<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, serde_json::Error> {
            serde_json::from_str(text)
        }
        let head: Head<'_> = serde_json::from_str(text)?;
        use EventBody::*;
        let body = match &*head.kind {
            "account" => Account(body(text)?),
            "contact" => Contact(body(text)?),
            "rep" => Rep(body(text)?),
            "engagement" => Engagement(body(text)?),
            "stage" => Stage(body(text)?),
            "handoff" => Handoff(body(text)?),
            "accepted" => Accepted(body(text)?),
            "rejected" => Rejected(body(text)?),
            "nurture" => Nurture(body(text)?),
            "activity" => Activity(body(text)?),
            "disposition" => Disposition(body(text)?),
            "opportunity" => Opportunity(body(text)?),
            "reassign" => Reassign(body(text)?),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "unknown event type {other:?}"
                )))
            }
        };
        Ok(Event {
            id: head.id,
            at: head.at,
            body,
        })
    }

    /// The account the event is about, if it names one directly.
    pub fn account(&self) -> Option<&str> {
        use EventBody::*;
        match &self.body {
            Account(a) => Some(&a.account),
            Contact(c) => c.account.as_deref(),
            Rep(_) => None,
            Engagement(e) => e.account.as_deref(),
            Stage(s) => Some(&s.account),
            Handoff(h) => Some(&h.account),
            Accepted(a) => Some(&a.account),
            Rejected(r) => Some(&r.account),
            Nurture(n) => Some(&n.account),
            Activity(a) => Some(&a.account),
            Disposition(d) => Some(&d.account),
            Opportunity(o) => Some(&o.account),
            Reassign(r) => Some(&r.account),
        }
    }
}

/// The payload of an event, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// Firmographics of an account (an upsert: absent fields keep their value).
    Account(AccountFacts),
    /// A person at an account.
    Contact(ContactFacts),
    /// A rep: team, manager, role and calendar.
    Rep(RepFacts),
    /// Something an account's people did that Marketing can see.
    Engagement(Engagement),
    /// An upstream system asserts a stage (history qualified elsewhere).
    Stage(StageAssertion),
    /// Marketing passes the account to a rep.
    Handoff(Handoff),
    /// Sales accepts the hand-off: the account is a SAL.
    Accepted(Decision),
    /// Sales rejects the hand-off, with a reason.
    Rejected(Rejection),
    /// The account returns to nurture.
    Nurture(Nurture),
    /// A follow-up attempt by a rep.
    Activity(Activity),
    /// The status and next step a rep records for a SAL.
    Disposition(Disposition),
    /// An opportunity opened, moved or closed.
    Opportunity(Opportunity),
    /// The account moves to another rep.
    Reassign(Reassign),
}

impl EventBody {
    /// The `type` tag as written in JSON.
    pub fn type_name(&self) -> &'static str {
        use EventBody::*;
        match self {
            Account(_) => "account",
            Contact(_) => "contact",
            Rep(_) => "rep",
            Engagement(_) => "engagement",
            Stage(_) => "stage",
            Handoff(_) => "handoff",
            Accepted(_) => "accepted",
            Rejected(_) => "rejected",
            Nurture(_) => "nurture",
            Activity(_) => "activity",
            Disposition(_) => "disposition",
            Opportunity(_) => "opportunity",
            Reassign(_) => "reassign",
        }
    }
}

/// Firmographics; every field but `account` is optional so that an upsert
/// can carry only what changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountFacts {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub account: AccountId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employees: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Annual revenue in the organisation's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annual_revenue: Option<f64>,
    /// Region, used when the policy times clocks on the account's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Any other attribute, matched by custom ICP conditions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// A person. A contact without an account is a lone lead and becomes an
/// account of its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactFacts {
    pub contact: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account: Option<AccountId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A rep and their place in the organisation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepFacts {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub rep: RepId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The rep's sales manager (a rep id or a person's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// Role, e.g. `sdr`, `ae`, `sales_manager`, `marketing_vp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Name of a calendar in the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A marketing engagement by an account or one of its contacts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Engagement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub account: Option<AccountId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// E.g. `demo_request`, `pricing_page_view`, `case_study_view`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// Tags of the asset, matched by intent conditions (`asset_tag`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asset_tags: Vec<String>,
    /// Time spent, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
}

/// Lifecycle stages, in funnel order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Known, engaging, not yet qualified.
    Engaged,
    /// Marketing Qualified Account.
    Mqa,
    /// Passed to a rep, awaiting acceptance.
    HandedOff,
    /// Sales Accepted Lead.
    Sal,
    /// Declined by Sales.
    Rejected,
    /// Back in the marketing programme.
    Nurture,
    /// Sales Qualified Opportunity.
    Sqo,
    /// Closed won.
    Won,
    /// Closed lost.
    Lost,
}

impl Stage {
    /// The lowercase name used in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Engaged => "engaged",
            Stage::Mqa => "mqa",
            Stage::HandedOff => "handed_off",
            Stage::Sal => "sal",
            Stage::Rejected => "rejected",
            Stage::Nurture => "nurture",
            Stage::Sqo => "sqo",
            Stage::Won => "won",
            Stage::Lost => "lost",
        }
    }
}

/// An upstream system's statement that the account entered a stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageAssertion {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub account: AccountId,
    pub stage: Stage,
    /// Intent tier, when asserting `mqa`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub rep: Option<RepId>,
    /// Required context for a backward move; kept in stage history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Channel the upstream system credits, e.g. a lead source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
}

/// Marketing passes the account to a rep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Handoff {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub account: AccountId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub rep: RepId,
    /// Overrides the tier the engine recorded at qualification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

/// An acceptance by Sales.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub account: AccountId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub rep: Option<RepId>,
}

/// A rejection by Sales; the reason is feedback on lead quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rejection {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub account: AccountId,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub rep: Option<RepId>,
}

/// Return to nurture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Nurture {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub account: AccountId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A follow-up attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Activity {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub account: AccountId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub rep: Option<RepId>,
    /// `call`, `email`, `meeting`, `social`.
    pub kind: String,
    /// Machine-sent messages are recorded but never count as a touch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automated: bool,
}

/// A disposition recorded on a SAL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Disposition {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub account: AccountId,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub rep: Option<RepId>,
}

/// An opportunity's stage: `sqo`, `won`, `lost`, or a custom name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Opportunity {
    pub opportunity: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub account: AccountId,
    pub stage: String,
    /// ARR of the deal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub rep: Option<RepId>,
}

/// The account moves to another rep; clocks keep running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reassign {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub account: AccountId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub rep: RepId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handoff_line_parses_with_offset() {
        let e = Event::from_json(
            r#"{"id":"h1","type":"handoff","at":"2026-03-02T09:00:00-06:00","account":"acme","rep":"r1"}"#,
        )
        .unwrap();
        assert_eq!(e.type_name(), "handoff");
        assert_eq!(e.at_utc().to_rfc3339(), "2026-03-02T15:00:00+00:00");
        assert_eq!(e.account(), Some("acme"));
    }

    #[test]
    fn unknown_type_is_an_error_naming_it() {
        let err = Event::from_json(r#"{"id":"x","type":"telepathy","at":"2026-03-02T09:00:00Z"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("telepathy"), "{err}");
    }

    #[test]
    fn round_trip_keeps_payload() {
        let line = r#"{"id":"o1","at":"2026-03-02T09:00:00+00:00","type":"opportunity","opportunity":"op","account":"a","stage":"won","amount":1200.0}"#;
        let e = Event::from_json(line).unwrap();
        let back = Event::from_json(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(e, back);
    }
}

impl Event {
    /// Checks what the types alone cannot: the event `id` is not blank and
    /// has no spaces at its start or end; every account, contact, rep and
    /// opportunity id the event names is not blank; `amount` (ARR) and
    /// `annual_revenue` are finite and 0 or more. The error names the field
    /// first, e.g. `amount -5000 is negative; ARR must be 0 or more`.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err(format!(
                "id {:?} is blank; every event needs a unique, non-blank id",
                self.id
            ));
        }
        if self.id.trim() != self.id {
            return Err(format!(
                "id {:?} has spaces at its start or end; write it without them",
                self.id
            ));
        }
        let type_name = self.type_name();
        for (field, value, required) in self.body.id_fields() {
            if value.is_some_and(|v| v.trim().is_empty()) {
                let value = value.unwrap_or_default();
                return Err(if required {
                    format!(
                        "{field} {value:?} is blank; {type_name} events must name their {field}"
                    )
                } else {
                    format!("{field} {value:?} is blank; name the {field} or leave {field} out")
                });
            }
        }
        self.body.check_amounts()
    }
}

impl EventBody {
    /// The id fields the payload has: (field, value if given, required).
    fn id_fields(&self) -> Vec<(&'static str, Option<&str>, bool)> {
        use EventBody::*;
        fn req<'a>(name: &'static str, v: &'a str) -> (&'static str, Option<&'a str>, bool) {
            (name, Some(v), true)
        }
        fn opt<'a>(
            name: &'static str,
            v: &'a Option<String>,
        ) -> (&'static str, Option<&'a str>, bool) {
            (name, v.as_deref(), false)
        }
        match self {
            Account(a) => vec![req("account", &a.account)],
            Contact(c) => vec![req("contact", &c.contact), opt("account", &c.account)],
            Rep(r) => vec![req("rep", &r.rep)],
            Engagement(e) => vec![opt("account", &e.account), opt("contact", &e.contact)],
            Stage(s) => vec![req("account", &s.account), opt("rep", &s.rep)],
            Handoff(h) => vec![req("account", &h.account), req("rep", &h.rep)],
            Accepted(a) => vec![req("account", &a.account), opt("rep", &a.rep)],
            Rejected(r) => vec![req("account", &r.account), opt("rep", &r.rep)],
            Nurture(n) => vec![req("account", &n.account)],
            Activity(a) => vec![req("account", &a.account), opt("rep", &a.rep)],
            Disposition(d) => vec![req("account", &d.account), opt("rep", &d.rep)],
            Opportunity(o) => vec![
                req("opportunity", &o.opportunity),
                req("account", &o.account),
                opt("rep", &o.rep),
            ],
            Reassign(r) => vec![req("account", &r.account), req("rep", &r.rep)],
        }
    }

    /// Money fields must be finite and 0 or more.
    fn check_amounts(&self) -> Result<(), String> {
        let (field, value, what) = match self {
            EventBody::Opportunity(o) => ("amount", o.amount, "ARR"),
            EventBody::Account(a) => ("annual_revenue", a.annual_revenue, "annual revenue"),
            _ => return Ok(()),
        };
        match value {
            Some(v) if !v.is_finite() => Err(format!(
                "{field} {v} is not a number; {what} must be a finite number, 0 or more"
            )),
            Some(v) if v < 0.0 => Err(format!("{field} {v} is negative; {what} must be 0 or more")),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod validate_tests {
    use super::*;

    fn event(line: &str) -> Event {
        Event::from_json(line).unwrap()
    }

    fn opportunity(amount: Option<f64>) -> Event {
        let mut e = event(
            r#"{"id":"o1","at":"2026-03-02T09:00:00Z","type":"opportunity","opportunity":"op","account":"a","stage":"won"}"#,
        );
        if let EventBody::Opportunity(o) = &mut e.body {
            o.amount = amount;
        }
        e
    }

    #[test]
    fn a_well_formed_event_passes() {
        assert_eq!(opportunity(Some(24000.0)).validate(), Ok(()));
        // 0 is a valid ARR (a free pilot), and so is no amount at all.
        assert_eq!(opportunity(Some(0.0)).validate(), Ok(()));
        assert_eq!(opportunity(None).validate(), Ok(()));
    }

    #[test]
    fn blank_event_ids_are_refused() {
        for id in ["", "   ", "\t"] {
            let mut e = opportunity(None);
            e.id = id.to_string();
            let err = e.validate().unwrap_err();
            assert!(err.starts_with(&format!("id {id:?} is blank")), "{err}");
        }
        let mut e = opportunity(None);
        e.id = " o1".to_string();
        assert_eq!(
            e.validate().unwrap_err(),
            "id \" o1\" has spaces at its start or end; write it without them"
        );
    }

    #[test]
    fn negative_or_non_finite_arr_is_refused() {
        assert_eq!(
            opportunity(Some(-5000.0)).validate().unwrap_err(),
            "amount -5000 is negative; ARR must be 0 or more"
        );
        for v in [f64::NAN, f64::INFINITY] {
            let err = opportunity(Some(v)).validate().unwrap_err();
            assert!(
                err.starts_with("amount ") && err.contains("is not a number"),
                "{err}"
            );
        }
        let mut account =
            event(r#"{"id":"a1","at":"2026-03-02T09:00:00Z","type":"account","account":"acme"}"#);
        if let EventBody::Account(a) = &mut account.body {
            a.annual_revenue = Some(-1.5);
        }
        assert_eq!(
            account.validate().unwrap_err(),
            "annual_revenue -1.5 is negative; annual revenue must be 0 or more"
        );
    }

    #[test]
    fn blank_account_rep_contact_and_opportunity_ids_are_named() {
        let cases = [
            (
                r#"{"type":"handoff","account":" ","rep":"r1"}"#,
                "account \" \" is blank; handoff events must name their account",
            ),
            (
                r#"{"type":"handoff","account":"acme","rep":""}"#,
                "rep \"\" is blank; handoff events must name their rep",
            ),
            (
                r#"{"type":"opportunity","opportunity":"","account":"a","stage":"sqo"}"#,
                "opportunity \"\" is blank; opportunity events must name their opportunity",
            ),
            (
                r#"{"type":"contact","contact":"c1","account":""}"#,
                "account \"\" is blank; name the account or leave account out",
            ),
            (
                r#"{"type":"engagement","kind":"demo_request","contact":"  "}"#,
                "contact \"  \" is blank; name the contact or leave contact out",
            ),
            (
                r#"{"type":"accepted","account":"acme","rep":""}"#,
                "rep \"\" is blank; name the rep or leave rep out",
            ),
            (
                r#"{"type":"rep","rep":""}"#,
                "rep \"\" is blank; rep events must name their rep",
            ),
        ];
        for (body, want) in cases {
            let line = body.replacen('{', r#"{"id":"e1","at":"2026-03-02T09:00:00Z","#, 1);
            assert_eq!(event(&line).validate().unwrap_err(), want, "{line}");
        }
    }
}
