//! Word lists for made-up names of people, companies, assets and campaigns.
//!
//! Every name is invented from these lists; e-mail domains end in the
//! reserved `.example` top-level domain so nothing points at a real company.

/// Given names for contacts and reps.
pub(super) const FIRST_NAMES: &[&str] = &[
    "Ada", "Amara", "Ben", "Carla", "Chen", "Dara", "Diego", "Elena", "Emeka", "Farah", "Gita",
    "Hana", "Ivan", "Jonas", "Kai", "Lena", "Luis", "Maya", "Mei", "Nadia", "Noah", "Olu", "Priya",
    "Quinn", "Rafael", "Rosa", "Sam", "Sofia", "Tariq", "Tessa", "Uma", "Victor", "Wen", "Yara",
    "Yusuf", "Zoe",
];

/// Family names for contacts and reps.
pub(super) const LAST_NAMES: &[&str] = &[
    "Abbott", "Bauer", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Patel", "Quintero", "Rossi",
    "Schmidt", "Tanaka", "Umar", "Varga", "Walsh", "Xu", "Yilmaz", "Zimmer",
];

/// First words of company names.
pub(super) const COMPANY_STEMS: &[&str] = &[
    "Alder",
    "Beacon",
    "Bluefin",
    "Cedar",
    "Cobalt",
    "Delta",
    "Ember",
    "Falcon",
    "Glacier",
    "Granite",
    "Harbor",
    "Horizon",
    "Iris",
    "Jasper",
    "Juniper",
    "Keystone",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Northwind",
    "Orchid",
    "Pinnacle",
    "Quartz",
    "Redwood",
    "Summit",
    "Tidal",
    "Umber",
    "Vertex",
    "Willow",
    "Zephyr",
];

/// Second words of company names, by industry; the last entry serves any
/// industry not listed.
pub(super) const COMPANY_SUFFIXES: &[(&str, &[&str])] = &[
    (
        "software",
        &["Labs", "Systems", "Cloud", "Analytics", "Software"],
    ),
    (
        "financial services",
        &["Capital", "Bank", "Financial", "Insurance", "Payments"],
    ),
    (
        "healthcare",
        &["Health", "Clinics", "Medical", "Care", "Diagnostics"],
    ),
    (
        "manufacturing",
        &[
            "Industries",
            "Manufacturing",
            "Works",
            "Components",
            "Machining",
        ],
    ),
    (
        "retail",
        &["Outfitters", "Stores", "Market", "Goods", "Home"],
    ),
    (
        "",
        &["Group", "Partners", "Collective", "Institute", "Foundation"],
    ),
];

/// Job titles of contacts, the people Marketing reaches.
pub(super) const TITLES: &[&str] = &[
    "VP Marketing",
    "Director of Revenue Operations",
    "Head of Sales Operations",
    "Chief Revenue Officer",
    "CFO",
    "IT Manager",
    "Marketing Manager",
    "Sales Director",
    "Business Analyst",
    "Demand Generation Lead",
];

/// Case studies (kind `case_study_view`).
pub(super) const CASE_STUDIES: &[&str] = &[
    "case-study-northbank",
    "case-study-medline-clinics",
    "case-study-forge-industrial",
    "case-study-cartwheel-retail",
    "case-study-stackline-saas",
];

/// Whitepapers that count for the mid tier (tag `key-whitepaper`).
pub(super) const KEY_WHITEPAPERS: &[&str] = &[
    "whitepaper-sla-playbook",
    "whitepaper-revops-benchmark-2026",
];

/// Downloads that never count for a tier.
pub(super) const DOWNLOADS: &[&str] = &[
    "ebook-pipeline-hygiene",
    "checklist-crm-migration",
    "whitepaper-ai-in-marketing",
];

/// Blog posts.
pub(super) const BLOG_POSTS: &[&str] =
    &["blog-lead-routing", "blog-buyer-intent", "blog-sla-basics"];

/// What newsletter readers click.
pub(super) const NEWSLETTER_ITEMS: &[&str] = &[
    "newsletter-feature",
    "newsletter-customer-story",
    "newsletter-event-invite",
];

/// Product pages short of pricing.
pub(super) const PRODUCT_PAGES: &[&str] = &["product-tour", "integrations", "security"];

/// The reasons reps give when they reject a hand-off, with their weights.
pub(super) const REJECTION_REASONS: &[(&str, f64)] = &[
    ("no budget", 0.28),
    ("wrong persona", 0.24),
    ("too small", 0.18),
    ("bad data", 0.16),
    ("existing customer", 0.14),
];
