//! The web console over HTTP (no browser): sign-in with its CSRF and TOTP steps, the inbox and
//! conversation pages, forms that change conversations, roles, bad input and another tenant's
//! ids. The browser-driven journey is in `browser.rs`.

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::BTreeMap;
use switchboard_testkit::{dbs, TestApp, TestTenant};

/// A browser without JavaScript: keeps cookies, follows nothing by itself.
pub struct Browser<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value of the first `name="…" value="…"` input.
    pub fn input(&self, name: &str) -> String {
        let needle = format!("name=\"{name}\" value=\"");
        let at = self
            .body
            .find(&needle)
            .unwrap_or_else(|| panic!("no input {name} in {}", self.body));
        let rest = &self.body[at + needle.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn keep_cookies(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let pair = v.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            if val.is_empty() || v.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let res = self
            .http
            .get(format!("{}{path}", self.app.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.page(res).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let res = self
            .http
            .post(format!("{}{path}", self.app.base))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.page(res).await
    }

    async fn page(&mut self, res: reqwest::Response) -> Page {
        let status = res.status();
        let headers = res.headers().clone();
        self.keep_cookies(&headers);
        Page {
            status,
            headers,
            body: res.text().await.unwrap(),
        }
    }

    /// Signs in through the form; returns the page the browser lands on.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/app/login").await;
        assert_eq!(form.status, 200);
        let csrf = form.input("csrf");
        let done = self
            .post(
                "/app/login",
                &[
                    ("email", email),
                    ("password", password),
                    ("csrf", &csrf),
                    ("next", ""),
                ],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        let home = self.get("/app").await;
        assert_eq!(home.status, 303);
        self.get(home.location()).await
    }

    pub fn csrf(&self) -> String {
        self.cookies["sb_csrf"].clone()
    }
}

/// A new person with `role` in the tenant.
pub async fn member(app: &TestApp, t: &TestTenant, role: &str) -> (String, String) {
    let email = format!("{}@{}.test", switchboard_testkit::unique(role), t.slug);
    let password = "a long enough password".to_owned();
    app.call(
        Method::POST,
        "/v1/users",
        Some(&t.key),
        Some(json!({"email": email, "role": role, "password": password, "display_name": format!("The {role}")})),
    )
    .await
    .expect(201);
    (email, password)
}

/// An API inbox with a conversation in it; the conversation's id.
pub async fn conversation(app: &TestApp, t: &TestTenant, text: &str) -> String {
    let inbox = app
        .call(
            Method::POST,
            "/v1/inboxes",
            Some(&t.key),
            Some(json!({"name": switchboard_testkit::unique("Support"), "channel": "api"})),
        )
        .await
        .expect(201);
    let inbox = inbox.body["id"].as_str().unwrap();
    let r = app
        .call(
            Method::POST,
            &format!("/v1/inboxes/{inbox}/messages"),
            Some(&t.key),
            Some(json!({"contact": {"name": "Grace Hopper", "email": "grace@example.test"}, "content": text})),
        )
        .await
        .expect(201);
    r.body["conversation"]["id"].as_str().unwrap().to_owned()
}

async fn messages(app: &TestApp, t: &TestTenant, conv: &str) -> Vec<serde_json::Value> {
    app.call(
        Method::GET,
        &format!("/v1/conversations/{conv}/messages"),
        Some(&t.key),
        None,
    )
    .await
    .expect(200)
    .body["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn sign_in_shows_the_inbox_with_strict_security_headers() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let conv = conversation(&app, &t, "My parcel never arrived").await;
        let mut b = Browser::new(&app);

        let first = b.get("/app").await;
        assert_eq!(first.status, 303);
        assert_eq!(first.location(), "/app/login");
        let login = b.get("/app/login").await;
        let csp = login.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(login.headers["x-frame-options"], "DENY");

        // A wrong password is refused on the form, with no session.
        let csrf = login.input("csrf");
        let wrong = b
            .post(
                "/app/login",
                &[
                    ("email", &t.owner_email),
                    ("password", "nope"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(wrong.status, 401);
        assert!(wrong.body.contains("Wrong email or password"));
        assert!(!b.cookies.contains_key("sb_session"));

        let inbox = b.sign_in(&t.owner_email, &t.owner_password).await;
        assert_eq!(inbox.status, 200, "{}", inbox.body);
        assert!(inbox.body.contains("Grace Hopper"), "{}", inbox.body);
        assert!(inbox.body.contains(&conv));
        assert_eq!(inbox.headers["cache-control"], "no-store");
        let session = &b.cookies["sb_session"];
        assert!(
            session.starts_with(switchboard_core::identity::CONSOLE_PREFIX),
            "a console session, not an access token: {session}"
        );

        let page = b
            .get(&format!("/app/t/{}/conversations/{conv}", t.slug))
            .await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("My parcel never arrived"));
        assert!(page.body.contains("id=\"composer\""));
        // The triage of the inbound message is shown with it.
        assert!(page.body.contains("class=\"triage\""), "{}", page.body);

        // Signing out ends the session: its cookie no longer opens the console.
        let csrf = b.csrf();
        let stale = b.cookies.clone();
        let out = b.post("/app/logout", &[("csrf", &csrf)]).await;
        assert_eq!(out.status, 303);
        b.cookies = stale;
        let after = b.get(&format!("/app/t/{}/inbox", t.slug)).await;
        assert_eq!(after.status, 303);
        assert_eq!(after.location(), "/app/login");
        app.stop().await;
    }
}

#[tokio::test]
async fn forms_need_the_sessions_csrf_token_and_change_nothing_without_it() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let conv = conversation(&app, &t, "Where is my refund?").await;
        let mut b = Browser::new(&app);
        b.sign_in(&t.owner_email, &t.owner_password).await;
        let path = format!("/app/t/{}/conversations/{conv}/messages", t.slug);

        for bad in ["", "forged", &"x".repeat(300)] {
            let r = b.post(&path, &[("csrf", bad), ("content", "hello")]).await;
            assert_eq!(r.status, 403, "{bad:?}");
        }
        // The login form's CSRF is bound to its cookie too.
        let mut other = Browser::new(&app);
        let r = other
            .post(
                "/app/login",
                &[
                    ("email", &t.owner_email),
                    ("password", &t.owner_password),
                    ("csrf", "guess"),
                ],
            )
            .await;
        assert_eq!(r.status, 403);
        assert_eq!(messages(&app, &t, &conv).await.len(), 1);

        // With the token: a reply, a private note, a canned response by short code.
        app.call(
            Method::POST,
            "/v1/canned-responses",
            Some(&t.key),
            Some(json!({"short_code": "refund", "content": "Refunds take 5 days."})),
        )
        .await
        .expect(201);
        let csrf = b.csrf();
        let r = b
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("content", "On it!"),
                    ("back", "view=all&status=open"),
                ],
            )
            .await;
        assert_eq!(r.status, 303);
        assert!(r
            .location()
            .starts_with(&format!("/app/t/{}/conversations/{conv}?view=all", t.slug)));
        b.post(
            &path,
            &[
                ("csrf", &csrf),
                ("content", "customer is VIP"),
                ("private", "on"),
            ],
        )
        .await;
        b.post(&path, &[("csrf", &csrf), ("content", "/refund")])
            .await;
        let all = messages(&app, &t, &conv).await;
        let texts: Vec<(&str, bool)> = all
            .iter()
            .map(|m| {
                (
                    m["content"].as_str().unwrap(),
                    m["private"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            texts,
            vec![
                ("Where is my refund?", false),
                ("On it!", false),
                ("customer is VIP", true),
                ("Refunds take 5 days.", false)
            ]
        );

        // Resolve, assign to me, priority, labels: all through the one change form.
        let change = format!("/app/t/{}/conversations/{conv}", t.slug);
        app.call(
            Method::POST,
            "/v1/labels",
            Some(&t.key),
            Some(json!({"name": "billing", "colour": "#aa3300"})),
        )
        .await
        .expect(201);
        for form in [
            vec![("status", "resolved")],
            vec![("assignee", "me")],
            vec![("priority", "high")],
            vec![("add_label", "billing")],
        ] {
            let mut f = vec![("csrf", csrf.as_str())];
            f.extend(form);
            let r = b.post(&change, &f).await;
            assert_eq!(r.status, 303, "{f:?}: {}", r.body);
        }
        let c = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(c.body["status"], "resolved");
        assert_eq!(c.body["priority"], "high");
        assert!(c.body["assignee_id"].is_string());
        let page = b.get(&format!("{change}?status=any")).await;
        assert!(page.body.contains("billing"));
        // A Save from a page loaded before someone else's change keeps that change: only the
        // fields this person changed are written.
        let mut stale = vec![("csrf", csrf.as_str())];
        stale.extend([
            ("assignee", ""),
            ("orig_assignee", ""),
            ("team", ""),
            ("orig_team", ""),
            ("priority", "high"),
            ("orig_priority", "high"),
            ("add_label", ""),
        ]);
        let r = b.post(&change, &stale).await;
        assert_eq!(r.status, 303, "{}", r.body);
        let still = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert!(still.body["assignee_id"].is_string(), "{}", still.body);
        // Priority filters the list in the database.
        let high = b
            .get(&format!(
                "/app/t/{}/inbox?status=any&priority=high&fragment=list",
                t.slug
            ))
            .await;
        assert!(high.body.contains(&conv));
        let low = b
            .get(&format!(
                "/app/t/{}/inbox?status=any&priority=low&fragment=list",
                t.slug
            ))
            .await;
        assert!(!low.body.contains(&conv));
        // The timeline tells what happened, and who did it.
        assert!(
            page.body
                .contains("changed the status from open to resolved"),
            "{}",
            page.body
        );
        assert!(page.body.contains("assigned it to"), "{}", page.body);
        assert!(
            page.body.contains("set the labels to billing"),
            "{}",
            page.body
        );
        // Unknown values are refused and change nothing.
        for form in [
            vec![("status", "exploded")],
            vec![("priority", "extreme")],
            vec![("assignee", "usr_nobody' OR 1=1")],
            vec![("status", "snoozed"), ("snooze_hours", "99999")],
        ] {
            let mut f = vec![("csrf", csrf.as_str())];
            f.extend(form);
            let r = b.post(&change, &f).await;
            assert!(r.status.is_client_error(), "{f:?}: {}", r.status);
        }
        let again = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{conv}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(again.body["status"], "resolved");
        assert_eq!(again.body["priority"], "high");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_viewer_reads_but_cannot_reply_and_filters_reject_bad_input() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let conv = conversation(&app, &t, "Hello there").await;
        let (email, password) = member(&app, &t, "viewer").await;
        let mut b = Browser::new(&app);
        b.sign_in(&email, &password).await;
        let page = b
            .get(&format!("/app/t/{}/conversations/{conv}", t.slug))
            .await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("id=\"read-only\""));
        assert!(!page.body.contains("id=\"composer\""));
        assert!(!page.body.contains("id=\"resolve\""));
        let csrf = b.csrf();
        let r = b
            .post(
                &format!("/app/t/{}/conversations/{conv}/messages", t.slug),
                &[("csrf", &csrf), ("content", "I should not")],
            )
            .await;
        assert_eq!(r.status, 403);
        let r = b
            .post(
                &format!("/app/t/{}/conversations/{conv}", t.slug),
                &[("csrf", &csrf), ("status", "resolved")],
            )
            .await;
        assert_eq!(r.status, 403);
        assert_eq!(messages(&app, &t, &conv).await.len(), 1);

        let inbox = format!("/app/t/{}/inbox", t.slug);
        for q in [
            "?status=bogus",
            "?view=everyone",
            "?inbox=../../etc/passwd",
            "?priority=%27%20OR%201=1",
            "?sentiment=furious",
        ] {
            let r = b.get(&format!("{inbox}{q}")).await;
            assert_eq!(r.status, 400, "{q}");
        }
        let long = format!("{inbox}?q={}", "a".repeat(201));
        assert_eq!(b.get(&long).await.status, 400);
        // Search and triage filters work together with the rest.
        let found = b
            .get(&format!("{inbox}?q=Hello&status=any&fragment=list"))
            .await;
        assert_eq!(found.status, 200);
        assert!(found.body.contains(&conv));
        let none = b
            .get(&format!("{inbox}?q=zebra&status=any&fragment=list"))
            .await;
        assert!(!none.body.contains(&conv));
        // Markup in data is escaped, never interpreted.
        let x = conversation(&app, &t, "<script>alert(1)</script>").await;
        let page = b.get(&format!("/app/t/{}/conversations/{x}", t.slug)).await;
        assert!(!page.body.contains("<script>alert(1)"));
        assert!(
            page.body
                .contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{}",
            page.body
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn another_tenants_pages_and_ids_are_not_found() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let a = app.tenant().await;
        let other = app.tenant().await;
        let theirs = conversation(&app, &other, "private to the other tenant").await;
        let mut b = Browser::new(&app);
        b.sign_in(&a.owner_email, &a.owner_password).await;
        let csrf = b.csrf();

        // Their tenant by slug: not found, exactly as one that does not exist.
        assert_eq!(
            b.get(&format!("/app/t/{}/inbox", other.slug)).await.status,
            404
        );
        assert_eq!(b.get("/app/t/no-such-tenant/inbox").await.status, 404);
        // Their conversation under our tenant: not found, and nothing changes.
        let page = b
            .get(&format!("/app/t/{}/conversations/{theirs}", a.slug))
            .await;
        assert_eq!(page.status, 404);
        assert!(!page.body.contains("private to the other tenant"));
        let r = b
            .post(
                &format!("/app/t/{}/conversations/{theirs}/messages", a.slug),
                &[("csrf", &csrf), ("content", "sneaky")],
            )
            .await;
        assert_eq!(r.status, 404);
        let r = b
            .post(
                &format!("/app/t/{}/conversations/{theirs}", a.slug),
                &[("csrf", &csrf), ("status", "resolved")],
            )
            .await;
        assert_eq!(r.status, 404);
        assert_eq!(messages(&app, &other, &theirs).await.len(), 1);
        let c = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{theirs}"),
                Some(&other.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(c.body["status"], "open");
        // Malformed ids are not found either.
        for id in ["..%2F..%2Fetc", "cnv_%27", "x"] {
            let r = b
                .get(&format!("/app/t/{}/conversations/{id}", a.slug))
                .await;
            assert_eq!(r.status, 404, "{id}");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn the_console_socket_accepts_its_own_origin_only() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let mut b = Browser::new(&app);
        b.sign_in(&t.owner_email, &t.owner_password).await;
        let cookie = b.cookie_header();
        let host = app.base.trim_start_matches("http://").to_owned();
        let url = format!(
            "{}/v1/realtime?tenant={}",
            app.base.replace("http", "ws"),
            t.slug
        );
        let try_origin = |origin: String| {
            let url = url.clone();
            let cookie = cookie.clone();
            async move {
                use tokio_tungstenite::tungstenite::client::IntoClientRequest;
                let mut req = url.into_client_request().unwrap();
                req.headers_mut().insert("cookie", cookie.parse().unwrap());
                req.headers_mut().insert("origin", origin.parse().unwrap());
                match tokio_tungstenite::connect_async(req).await {
                    Ok(_) => 101,
                    Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
                    Err(e) => panic!("{e}"),
                }
            }
        };
        assert_eq!(try_origin(format!("http://{host}")).await, 101);
        assert_eq!(try_origin("https://evil.test".into()).await, 403);
        assert_eq!(try_origin(format!("http://{host}.evil.test")).await, 403);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_widget_script_and_its_public_settings() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let js = app.request(Method::GET, "/widget.js").send().await.unwrap();
        assert_eq!(js.status(), 200);
        assert!(js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        let etag = js.headers()["etag"].to_str().unwrap().to_owned();
        assert!(js.text().await.unwrap().contains("$switchboard"));
        let again = app
            .request(Method::GET, "/widget.js")
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);

        let inbox = app
            .call(
                Method::POST,
                "/v1/inboxes",
                Some(&t.key),
                Some(json!({"name": "Website", "channel": "widget"})),
            )
            .await
            .expect(201);
        let id = inbox.body["id"].as_str().unwrap();
        let settings = app
            .call(
                Method::GET,
                &format!("/v1/inboxes/{id}/widget"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        let public = settings.body["public_id"].as_str().unwrap();
        assert_eq!(settings.body["appearance"]["colour"], "#1f5fbf");
        let appearance = json!({"title": "Acme help", "greeting": "Hi! How can we help?", "colour": "#0a7d33", "avatar_url": "https://cdn.example.test/a.png", "prechat": true});
        app.call(
            Method::PATCH,
            &format!("/v1/inboxes/{id}/widget"),
            Some(&t.key),
            Some(json!({"appearance": appearance})),
        )
        .await
        .expect(200);
        let config = app
            .call(
                Method::GET,
                &format!("/widget/v1/{public}/config"),
                None,
                None,
            )
            .await
            .expect(200);
        assert_eq!(config.body["appearance"], appearance);
        assert_eq!(config.body["name"], "Website");
        assert!(config.body.get("hmac_secret").is_none());
        // Hostile appearance values are refused and change nothing.
        for bad in [
            json!({"colour": "red"}),
            json!({"colour": "#12345g"}),
            json!({"colour": "#123456", "avatar_url": "javascript:alert(1)"}),
            json!({"colour": "#123456", "avatar_url": "https://user:pw@example.test/a.png"}),
            json!({"colour": "#123456", "title": "x".repeat(81)}),
            json!({"colour": "#123456", "greeting": "x".repeat(501)}),
            json!({"colour": "#123456", "bogus": true}),
        ] {
            let r = app
                .call(
                    Method::PATCH,
                    &format!("/v1/inboxes/{id}/widget"),
                    Some(&t.key),
                    Some(json!({"appearance": bad})),
                )
                .await;
            assert_eq!(r.status, 422, "{bad}: {}", r.body);
        }
        let config = app
            .call(
                Method::GET,
                &format!("/widget/v1/{public}/config"),
                None,
                None,
            )
            .await
            .expect(200);
        assert_eq!(config.body["appearance"], appearance);
        // Unknown public ids are not found.
        app.call(Method::GET, "/widget/v1/wgt_nothing/config", None, None)
            .await
            .expect(404);
        app.stop().await;
    }
}

/// The value inside `<code class="secret" id="secret">…</code>` (a secret shown once).
fn revealed(page: &Page) -> String {
    let start = page
        .body
        .find("id=\"secret\">")
        .unwrap_or_else(|| panic!("no secret shown: {}", page.body))
        + "id=\"secret\">".len();
    let rest = &page.body[start..];
    rest[..rest.find('<').unwrap()].to_owned()
}

#[tokio::test]
async fn settings_follow_roles_and_work_end_to_end() {
    for db in dbs() {
        let app = TestApp::spawn_with(db, |c| {
            c.webhooks.allow_private = vec!["127.0.0.1/32".into()];
            c.webhooks.poll_ms = 50;
            c.jobs.concurrency = 0;
        })
        .await;
        let t = app.tenant().await;
        let mut owner = Browser::new(&app);
        let inbox = owner.sign_in(&t.owner_email, &t.owner_password).await;
        assert!(inbox.body.contains("id=\"nav-settings\""));
        let base = format!("/app/t/{}/settings", t.slug);
        for s in [
            "inboxes", "members", "teams", "labels", "canned", "sla", "api-keys", "webhooks",
            "audit",
        ] {
            let p = owner.get(&format!("{base}/{s}")).await;
            assert_eq!(p.status, 200, "{s}: {}", p.body);
        }
        assert_eq!(owner.get(&format!("{base}/../../etc")).await.status, 404);
        assert_eq!(owner.get(&format!("{base}/nonsense")).await.status, 404);
        let csrf = owner.csrf();

        // People: a new agent gets a password shown once, and can sign in with it.
        let newbie_email = format!("{}@example.test", switchboard_testkit::unique("newbie"));
        let p = owner
            .post(
                &format!("{base}/members"),
                &[
                    ("csrf", &csrf),
                    ("op", "add"),
                    ("email", &newbie_email),
                    ("role", "agent"),
                    ("display_name", "New Bie"),
                ],
            )
            .await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert_eq!(p.headers["cache-control"], "no-store");
        let password = revealed(&p);
        let mut newbie = Browser::new(&app);
        let landed = newbie.sign_in(&newbie_email, &password).await;
        assert_eq!(landed.status, 200);
        // An agent sees no settings and is refused them.
        assert!(!landed.body.contains("id=\"nav-settings\""));
        assert_eq!(newbie.get(&format!("{base}/members")).await.status, 403);
        let ncsrf = newbie.csrf();
        let r = newbie
            .post(
                &format!("{base}/labels"),
                &[
                    ("csrf", &ncsrf),
                    ("op", "create"),
                    ("name", "sneaky"),
                    ("colour", "#000000"),
                ],
            )
            .await;
        assert_eq!(r.status, 403);

        // API keys: shown once, working, then revoked.
        let p = owner
            .post(
                &format!("{base}/api-keys"),
                &[
                    ("csrf", &csrf),
                    ("op", "create"),
                    ("name", "CRM sync"),
                    ("scope", "agent"),
                ],
            )
            .await;
        assert_eq!(p.status, 200, "{}", p.body);
        let key = revealed(&p);
        assert!(key.starts_with("sb_live_"), "{key}");
        app.call(Method::GET, "/v1/contacts", Some(&key), None)
            .await
            .expect(200);
        let keys = app
            .call(Method::GET, "/v1/api-keys", Some(&t.key), None)
            .await
            .expect(200);
        let id = keys.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == "CRM sync")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = owner
            .post(
                &format!("{base}/api-keys"),
                &[("csrf", &csrf), ("op", "revoke"), ("key", &id)],
            )
            .await;
        assert_eq!(r.status, 303);
        app.call(Method::GET, "/v1/contacts", Some(&key), None)
            .await
            .expect(401);

        // A widget inbox: created, then its install snippet, secret and look.
        let r = owner
            .post(
                &format!("{base}/inboxes"),
                &[
                    ("csrf", &csrf),
                    ("op", "create"),
                    ("name", "Website"),
                    ("channel", "widget"),
                ],
            )
            .await;
        assert_eq!(r.status, 303);
        let page = owner.get(r.location()).await;
        assert!(page.body.contains("widget.js"), "{}", page.body);
        assert!(
            page.body.contains("data-widget=&#34;wgt_")
                || page.body.contains("data-widget=&quot;wgt_"),
            "{}",
            page.body
        );
        let bad = owner
            .post(
                r.location(),
                &[
                    ("csrf", &csrf),
                    ("op", "appearance"),
                    ("colour", "javascript:alert(1)"),
                    ("title", "x"),
                ],
            )
            .await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        let ok = owner
            .post(
                r.location(),
                &[
                    ("csrf", &csrf),
                    ("op", "appearance"),
                    ("colour", "#123456"),
                    ("title", "Help"),
                    ("greeting", "Hi"),
                    ("prechat", "on"),
                ],
            )
            .await;
        assert_eq!(ok.status, 303);
        let inbox_id = r.location().rsplit('/').next().unwrap().to_owned();
        let preview = owner.get(&format!("{}/preview", r.location())).await;
        assert_eq!(preview.status, 200, "{}", preview.body);
        assert!(preview
            .body
            .contains("<script src=\"/widget.js\" data-widget=\"wgt_"));
        let s = app
            .call(
                Method::GET,
                &format!("/v1/inboxes/{inbox_id}/widget"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(s.body["appearance"]["colour"], "#123456");
        assert_eq!(s.body["appearance"]["prechat"], true);

        // Webhooks: an endpoint, its secret shown once, a delivery in the attempt log, a replay.
        let hostile = owner
            .post(
                &format!("{base}/webhooks"),
                &[
                    ("csrf", &csrf),
                    ("op", "create"),
                    ("url", "ftp://example.test/x"),
                ],
            )
            .await;
        assert_eq!(hostile.status, 422);
        let receiver = switchboard_testkit::HttpReceiver::start(200, "ok").await;
        let p = owner
            .post(
                &format!("{base}/webhooks"),
                &[
                    ("csrf", &csrf),
                    ("op", "create"),
                    ("url", &receiver.url),
                    ("event_types", "conversation.created"),
                ],
            )
            .await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(revealed(&p).starts_with("whsec_"));
        let endpoints = app
            .call(Method::GET, "/v1/webhooks", Some(&t.key), None)
            .await
            .expect(200);
        let endpoint = endpoints.body["data"][0]["id"].as_str().unwrap().to_owned();
        conversation(&app, &t, "hello hooks").await;
        let detail = format!("{base}/webhooks/{endpoint}");
        let mut tries = 0;
        let event = loop {
            let page = owner.get(&detail).await;
            if let Some(at) = page.body.find("name=\"event\" value=\"") {
                let rest = &page.body[at + 20..];
                break rest[..rest.find('"').unwrap()].to_owned();
            }
            tries += 1;
            assert!(tries < 200, "no attempt in the log: {}", page.body);
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        };
        let before = receiver.taken().len();
        let replayed = owner
            .post(
                &detail,
                &[("csrf", &csrf), ("op", "replay"), ("event", &event)],
            )
            .await;
        assert_eq!(replayed.status, 200, "{}", replayed.body);
        assert!(
            replayed.body.contains("Replayed: delivered"),
            "{}",
            replayed.body
        );
        assert_eq!(receiver.taken().len(), before + 1);

        // Business hours: a week of opening hours in a time zone; nonsense is refused.
        let sla = format!("{base}/sla");
        let week = [
            ("mon_open", "09:00"),
            ("mon_close", "17:00"),
            ("fri_open", "10:00"),
            ("fri_close", "16:00"),
        ];
        let mut good = vec![
            ("csrf", csrf.as_str()),
            ("op", "create_calendar"),
            ("name", "Office"),
            ("timezone", "Europe/Paris"),
            ("holidays", "2026-12-25"),
        ];
        good.extend(week);
        let r = owner.post(&sla, &good).await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert!(owner.get(&sla).await.body.contains("Office"));
        for (k, v) in [
            ("timezone", "Mars/Olympus"),
            ("mon_open", "25:00"),
            ("holidays", "christmas"),
        ] {
            let mut bad: Vec<(&str, &str)> =
                good.iter().filter(|(key, _)| *key != k).copied().collect();
            bad.push((k, v));
            let r = owner.post(&sla, &bad).await;
            assert_eq!(r.status, 422, "{k}={v}: {}", r.body);
        }
        let cals = app
            .call(Method::GET, "/v1/business-calendars", Some(&t.key), None)
            .await
            .expect(200);
        assert_eq!(cals.body["data"].as_array().unwrap().len(), 1);

        // The audit log shows what was done here, and its chain verifies.
        let audit = owner.get(&format!("{base}/audit")).await;
        assert!(
            audit.body.contains("api_key.revoked") || audit.body.contains("api_key.created"),
            "{}",
            audit.body
        );
        let v = owner
            .post(
                &format!("{base}/audit"),
                &[("csrf", &csrf), ("op", "verify")],
            )
            .await;
        assert_eq!(v.status, 200);
        assert!(v.body.contains("The chain is intact"), "{}", v.body);

        // Another tenant's ids are not found from here, and nothing of theirs changes.
        let other = app.tenant().await;
        let label = app
            .call(
                Method::POST,
                "/v1/labels",
                Some(&other.key),
                Some(json!({"name": "theirs", "colour": "#111111"})),
            )
            .await
            .expect(201);
        let their_label = label.body["id"].as_str().unwrap();
        let r = owner
            .post(
                &format!("{base}/labels"),
                &[("csrf", &csrf), ("op", "delete"), ("label", their_label)],
            )
            .await;
        assert_eq!(r.status, 404);
        let theirs = app
            .call(Method::GET, "/v1/labels", Some(&other.key), None)
            .await
            .expect(200);
        assert_eq!(theirs.body["data"].as_array().unwrap().len(), 1);
        let their_inbox = app
            .call(
                Method::POST,
                "/v1/inboxes",
                Some(&other.key),
                Some(json!({"name": "Theirs", "channel": "widget"})),
            )
            .await
            .expect(201);
        let their_inbox = their_inbox.body["id"].as_str().unwrap();
        let r = owner.get(&format!("{base}/inboxes/{their_inbox}")).await;
        assert_eq!(r.status, 404);
        let r = owner
            .get(&format!("{base}/inboxes/{their_inbox}/preview"))
            .await;
        assert_eq!(r.status, 404);
        assert!(!r.body.contains("data-widget"));
        assert!(!r.body.contains("widget.js"));
        assert_eq!(
            owner
                .get(&format!("/app/t/{}/settings/members", other.slug))
                .await
                .status,
            404
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn an_auditor_sees_only_the_audit_log() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let (email, password) = member(&app, &t, "auditor").await;
        let mut b = Browser::new(&app);
        let landed = b.sign_in(&email, &password).await;
        assert_eq!(landed.status, 200, "{}", landed.body);
        assert!(landed.body.contains("id=\"audit\""));
        let base = format!("/app/t/{}/settings", t.slug);
        assert_eq!(b.get(&format!("/app/t/{}/inbox", t.slug)).await.status, 403);
        let index = b.get(&base).await;
        assert_eq!(index.status, 303);
        assert_eq!(index.location(), format!("{base}/audit"));
        let audit = b.get(&format!("{base}/audit")).await;
        assert_eq!(audit.status, 200);
        assert!(audit.body.contains("member.added"));
        assert!(!audit.body.contains("/settings/members\""));
        for s in ["members", "api-keys", "webhooks", "labels"] {
            assert_eq!(b.get(&format!("{base}/{s}")).await.status, 403, "{s}");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn reports_draw_charts_and_download_csv() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let conv = conversation(&app, &t, "I need help with my invoice").await;
        app.call(
            Method::POST,
            &format!("/v1/conversations/{conv}/messages"),
            Some(&t.key),
            Some(json!({"content": "Here to help"})),
        )
        .await
        .expect(201);
        app.call(
            Method::PATCH,
            &format!("/v1/conversations/{conv}"),
            Some(&t.key),
            Some(json!({"status": "resolved"})),
        )
        .await
        .expect(200);
        let mut b = Browser::new(&app);
        b.sign_in(&t.owner_email, &t.owner_password).await;
        let path = format!("/app/t/{}/reports", t.slug);
        let page = b.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(
            page.body.matches("<svg class=\"chart").count(),
            5,
            "{}",
            page.body
        );
        assert!(page.body.contains("New conversations by weekday and hour"));
        // One conversation created and one resolved in the range.
        assert!(
            page.body
                .contains("<span class=\"muted\">Conversations</span><strong>1</strong>"),
            "{}",
            page.body
        );
        let csv = b.get(&format!("{path}?days=7&format=csv")).await;
        assert_eq!(csv.status, 200);
        assert!(csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let mut lines = csv.body.lines();
        assert!(lines
            .next()
            .unwrap()
            .starts_with("period,conversations_created"));
        let total: usize = lines
            .map(|l| l.split(',').nth(1).unwrap().parse::<usize>().unwrap())
            .sum();
        assert_eq!(total, 1);
        for bad in ["?days=3", "?inbox=nope", "?agent=%27", "?tz=Mars/Olympus"] {
            let r = b.get(&format!("{path}{bad}")).await;
            assert!(r.status.is_client_error(), "{bad}: {}", r.status);
        }
        // Another tenant's inbox as a filter shows nothing of theirs.
        let other = app.tenant().await;
        let theirs = conversation(&app, &other, "theirs").await;
        let c = app
            .call(
                Method::GET,
                &format!("/v1/conversations/{theirs}"),
                Some(&other.key),
                None,
            )
            .await
            .expect(200);
        let their_inbox = c.body["inbox_id"].as_str().unwrap();
        let filtered = b
            .get(&format!("{path}?days=7&format=csv&inbox={their_inbox}"))
            .await;
        assert_eq!(filtered.status, 200);
        assert_eq!(filtered.body.lines().count(), 1, "{}", filtered.body);
        app.stop().await;
    }
}

#[tokio::test]
async fn sign_in_asks_for_the_authenticator_code_and_switches_tenants() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let second = app.tenant().await;
        // The owner of `t` also works in `second`.
        app.call(
            Method::POST,
            "/v1/users",
            Some(&second.key),
            Some(json!({"email": t.owner_email, "role": "agent"})),
        )
        .await
        .expect(201);
        let token = app.sign_in(&t.owner_email, &t.owner_password).await;
        let e = app
            .call(Method::POST, "/v1/me/totp", Some(&token), None)
            .await
            .expect(200);
        let secret = e.body["secret"].as_str().unwrap().to_owned();
        let code = switchboard_core::totp::code(&secret, app.clock_now()).unwrap();
        app.call(
            Method::POST,
            "/v1/me/totp/confirm",
            Some(&token),
            Some(json!({"code": code})),
        )
        .await
        .expect(204);
        app.clock.advance_ms(30_000);

        let mut b = Browser::new(&app);
        let form = b.get("/app/login").await;
        let csrf = form.input("csrf");
        let creds = [
            ("email", t.owner_email.as_str()),
            ("password", t.owner_password.as_str()),
            ("csrf", csrf.as_str()),
        ];
        let ask = b.post("/app/login", &creds).await;
        assert_eq!(ask.status, 401);
        assert!(ask.body.contains("id=\"totp\""), "{}", ask.body);
        assert!(!b.cookies.contains_key("sb_session"));
        let mut wrong = creds.to_vec();
        wrong.push(("totp", "000000"));
        let r = b.post("/app/login", &wrong).await;
        assert_eq!(r.status, 401);
        assert!(!b.cookies.contains_key("sb_session"));
        let code = switchboard_core::totp::code(&secret, app.clock_now()).unwrap();
        let mut right = creds.to_vec();
        right.push(("totp", &code));
        let done = b.post("/app/login", &right).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert!(b.cookies.contains_key("sb_session"));

        // Both tenants are in the switcher; each is reachable, in its own role.
        let inbox = b.get(&format!("/app/t/{}/inbox", t.slug)).await;
        assert!(inbox
            .body
            .contains(&format!("/app/t/{}/inbox", second.slug)));
        assert!(inbox.body.contains("id=\"nav-settings\""));
        let there = b.get(&format!("/app/t/{}/inbox", second.slug)).await;
        assert_eq!(there.status, 200);
        assert!(
            !there.body.contains("id=\"nav-settings\""),
            "an agent there"
        );
        assert_eq!(
            b.get(&format!("/app/t/{}/settings/members", second.slug))
                .await
                .status,
            403
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn invitations_by_link_work_once_and_only_for_their_tenant() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let other = app.tenant().await;
        let mut owner = Browser::new(&app);
        owner.sign_in(&t.owner_email, &t.owner_password).await;
        let csrf = owner.csrf();
        let members = format!("/app/t/{}/settings/members", t.slug);
        let invite = |email: String, role: &'static str| {
            let csrf = csrf.clone();
            let members = members.clone();
            (email, role, csrf, members)
        };
        let (email, role, c, m) = invite(
            format!("{}@example.test", switchboard_testkit::unique("invited")),
            "agent",
        );
        let p = owner
            .post(
                &m,
                &[
                    ("csrf", &c),
                    ("op", "invite"),
                    ("email", &email),
                    ("role", role),
                ],
            )
            .await;
        assert_eq!(p.status, 200, "{}", p.body);
        let link = revealed(&p);
        assert!(
            link.starts_with(&format!("{}/app/invite/sb_inv_", app.base)),
            "{link}"
        );
        let path = link.trim_start_matches(&app.base).to_owned();
        let listed = owner.get(&m).await;
        assert!(listed.body.contains(&email) && listed.body.contains("id=\"invitations\""));

        // The invited person opens the link, is refused a short password, then joins.
        let mut newcomer = Browser::new(&app);
        let form = newcomer.get(&path).await;
        assert_eq!(form.status, 200, "{}", form.body);
        assert!(form.body.contains(&email) && form.body.contains("agent"));
        let ncsrf = form.input("csrf");
        let short = newcomer
            .post(
                &path,
                &[("csrf", &ncsrf), ("name", "Nia"), ("password", "short")],
            )
            .await;
        assert_eq!(short.status, 422);
        let forged = newcomer
            .post(
                &path,
                &[
                    ("csrf", "forged"),
                    ("name", "Nia"),
                    ("password", "a long enough password"),
                ],
            )
            .await;
        assert_eq!(forged.status, 403);
        let joined = newcomer
            .post(
                &path,
                &[
                    ("csrf", &ncsrf),
                    ("name", "Nia"),
                    ("password", "a long enough password"),
                ],
            )
            .await;
        assert_eq!(joined.status, 303, "{}", joined.body);
        let home = newcomer.get("/app").await;
        assert_eq!(home.location(), format!("/app/t/{}/inbox", t.slug));
        // A link works once.
        assert_eq!(Browser::new(&app).get(&path).await.status, 404);
        let again = newcomer
            .post(
                &path,
                &[
                    ("csrf", &ncsrf),
                    ("name", "Nia"),
                    ("password", "a long enough password"),
                ],
            )
            .await;
        assert!(again.status.is_client_error(), "{}", again.status);
        let users = app
            .call(Method::GET, "/v1/users", Some(&t.key), None)
            .await
            .expect(200);
        assert!(users.body.to_string().contains(&email));

        // Someone with an account already joins with its password, not a new one.
        let p = owner
            .post(
                &m,
                &[
                    ("csrf", &c),
                    ("op", "invite"),
                    ("email", &other.owner_email),
                    ("role", "viewer"),
                ],
            )
            .await;
        let path2 = revealed(&p).trim_start_matches(&app.base).to_owned();
        let mut existing = Browser::new(&app);
        let form = existing.get(&path2).await;
        assert!(form.body.contains("You already have an account"));
        let ecsrf = form.input("csrf");
        let wrong = existing
            .post(
                &path2,
                &[("csrf", &ecsrf), ("password", "not my password at all")],
            )
            .await;
        assert_eq!(wrong.status, 422);
        let ok = existing
            .post(
                &path2,
                &[("csrf", &ecsrf), ("password", &other.owner_password)],
            )
            .await;
        assert_eq!(ok.status, 303);
        app.sign_in(&other.owner_email, &other.owner_password).await;

        // Withdrawn, tampered and expired links are not found.
        let p = owner
            .post(
                &m,
                &[
                    ("csrf", &c),
                    ("op", "invite"),
                    ("email", "later@example.test"),
                    ("role", "agent"),
                ],
            )
            .await;
        let path3 = revealed(&p).trim_start_matches(&app.base).to_owned();
        let tampered = path3.replace(&t.id, &other.id);
        assert_ne!(tampered, path3);
        assert_eq!(Browser::new(&app).get(&tampered).await.status, 404);
        // The API lists and withdraws them too, never across tenants.
        let listed = app
            .call(Method::GET, "/v1/invitations", Some(&t.key), None)
            .await
            .expect(200);
        let later = listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["email"] == "later@example.test")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let theirs = app
            .call(Method::GET, "/v1/invitations", Some(&other.key), None)
            .await
            .expect(200);
        assert!(!theirs.body.to_string().contains("later@example.test"));
        app.call(
            Method::DELETE,
            &format!("/v1/invitations/{later}"),
            Some(&other.key),
            None,
        )
        .await
        .expect(404);
        assert_eq!(Browser::new(&app).get(&path3).await.status, 200);
        let api = app
            .call(
                Method::POST,
                "/v1/invitations",
                Some(&t.key),
                Some(json!({"email": "api@example.test", "role": "viewer"})),
            )
            .await
            .expect(201);
        let api_path = api.body["url"]
            .as_str()
            .unwrap()
            .trim_start_matches(&app.base)
            .to_owned();
        assert_eq!(Browser::new(&app).get(&api_path).await.status, 200);
        app.call(
            Method::POST,
            "/v1/invitations",
            Some(&t.key),
            Some(json!({"email": "not an email", "role": "viewer"})),
        )
        .await
        .expect(422);
        let api_id = api.body["invitation"]["id"].as_str().unwrap();
        app.call(
            Method::DELETE,
            &format!("/v1/invitations/{api_id}"),
            Some(&t.key),
            None,
        )
        .await
        .expect(204);
        assert_eq!(Browser::new(&app).get(&api_path).await.status, 404);
        for bad in [
            "/app/invite/x",
            "/app/invite/sb_inv_..%2F..%2Fetc",
            "/app/invite/%27%20OR%201=1",
        ] {
            assert_eq!(Browser::new(&app).get(bad).await.status, 404, "{bad}");
        }
        app.clock.advance_ms(8 * 24 * 3600 * 1000);
        assert_eq!(Browser::new(&app).get(&path3).await.status, 404);

        // Agents cannot invite; admins cannot invite owners.
        let (agent_email, agent_password) = member(&app, &t, "agent").await;
        let mut agent = Browser::new(&app);
        agent.sign_in(&agent_email, &agent_password).await;
        let acsrf = agent.csrf();
        let r = agent
            .post(
                &m,
                &[
                    ("csrf", &acsrf),
                    ("op", "invite"),
                    ("email", "x@example.test"),
                    ("role", "agent"),
                ],
            )
            .await;
        assert_eq!(r.status, 403);
        let (admin_email, admin_password) = member(&app, &t, "admin").await;
        let mut admin = Browser::new(&app);
        admin.sign_in(&admin_email, &admin_password).await;
        let dcsrf = admin.csrf();
        let r = admin
            .post(
                &m,
                &[
                    ("csrf", &dcsrf),
                    ("op", "invite"),
                    ("email", "boss@example.test"),
                    ("role", "owner"),
                ],
            )
            .await;
        assert_eq!(r.status, 403);
        app.stop().await;
    }
}

#[tokio::test]
async fn platform_admins_provision_and_suspend_tenants_in_the_console() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let (email, password) = app.create_platform_admin().await;
        let mut admin = Browser::new(&app);
        let landed = admin.sign_in(&email, &password).await;
        assert_eq!(landed.status, 200, "{}", landed.body);
        assert!(landed.body.contains("id=\"tenants\""), "{}", landed.body);
        let csrf = admin.csrf();
        let slug = switchboard_testkit::unique("made");
        let owner = format!("owner@{slug}.test");
        let r = admin
            .post(
                "/app/platform",
                &[
                    ("csrf", &csrf),
                    ("op", "create_tenant"),
                    ("slug", &slug),
                    ("name", "Made Here"),
                    ("plan", "professional"),
                    ("admin_email", &owner),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let secret = revealed(&r);
        let key = secret.rsplit("API key ").next().unwrap().to_owned();
        app.call(Method::GET, "/v1/users", Some(&key), None)
            .await
            .expect(200);
        assert!(r.body.contains(&slug));
        // Suspend: the tenant's key stops working; resume: it works again.
        let id = secret
            .strip_prefix("tenant ")
            .and_then(|r| r.split(' ').next())
            .unwrap()
            .to_owned();
        assert!(id.starts_with("ten_"), "{id}");
        let r = admin
            .post(
                "/app/platform",
                &[("csrf", &csrf), ("op", "suspend"), ("tenant", &id)],
            )
            .await;
        assert_eq!(r.status, 303);
        app.call(Method::GET, "/v1/users", Some(&key), None)
            .await
            .expect(403);
        admin
            .post(
                "/app/platform",
                &[("csrf", &csrf), ("op", "resume"), ("tenant", &id)],
            )
            .await;
        app.call(Method::GET, "/v1/users", Some(&key), None)
            .await
            .expect(200);
        // Partners.
        let pslug = switchboard_testkit::unique("partner");
        let r = admin
            .post(
                "/app/platform",
                &[
                    ("csrf", &csrf),
                    ("op", "create_partner"),
                    ("slug", &pslug),
                    ("name", "Reseller"),
                ],
            )
            .await;
        assert_eq!(r.status, 303);
        assert!(admin.get("/app/platform").await.body.contains(&pslug));
        // Hostile or unknown input changes nothing.
        let bad = admin
            .post(
                "/app/platform",
                &[
                    ("csrf", &csrf),
                    ("op", "create_tenant"),
                    ("slug", "../x"),
                    ("name", "x"),
                    ("plan", "starter"),
                    ("admin_email", "a@b.test"),
                ],
            )
            .await;
        assert!(bad.status.is_client_error());
        let bad = admin
            .post(
                "/app/platform",
                &[("csrf", "forged"), ("op", "suspend"), ("tenant", &id)],
            )
            .await;
        assert_eq!(bad.status, 403);
        app.call(Method::GET, "/v1/users", Some(&key), None)
            .await
            .expect(200);
        // A tenant's own owner is no platform admin.
        let t = app.tenant().await;
        let mut b = Browser::new(&app);
        b.sign_in(&t.owner_email, &t.owner_password).await;
        assert_eq!(b.get("/app/platform").await.status, 403);
        let c = b.csrf();
        let r = b
            .post(
                "/app/platform",
                &[("csrf", &c), ("op", "suspend"), ("tenant", &id)],
            )
            .await;
        assert_eq!(r.status, 403);
        app.call(Method::GET, "/v1/users", Some(&key), None)
            .await
            .expect(200);
        app.stop().await;
    }
}

#[tokio::test]
async fn replies_carry_attachments_and_files_download_only_in_their_tenant() {
    const PNG: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0,
        0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0,
    ];
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let conv = conversation(&app, &t, "see my screenshot").await;
        let mut b = Browser::new(&app);
        b.sign_in(&t.owner_email, &t.owner_password).await;
        // The page's script uploads with the session cookie and CSRF header, as here.
        let up = app
            .send(
                app.request(
                    Method::POST,
                    &format!("/v1/conversations/{conv}/attachments?filename=shot.png"),
                )
                .header("cookie", format!("sb_session={}", b.cookies["sb_session"]))
                .header("x-csrf-token", b.csrf())
                .header("x-switchboard-tenant", &t.slug)
                .header("content-type", "application/octet-stream")
                .body(PNG.to_vec()),
            )
            .await
            .expect(201);
        let file = up.body["id"].as_str().unwrap().to_owned();
        let csrf = b.csrf();
        let path = format!("/app/t/{}/conversations/{conv}/messages", t.slug);
        let bad = b
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("content", "x"),
                    ("attachments", "../etc/passwd"),
                ],
            )
            .await;
        assert_eq!(bad.status, 400);
        let r = b
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("content", "Here it is back"),
                    ("attachments", &file),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let page = b
            .get(&format!("/app/t/{}/conversations/{conv}", t.slug))
            .await;
        let link = format!("/app/t/{}/attachments/{file}", t.slug);
        assert!(page.body.contains(&link), "{}", page.body);
        let dl = b.get(&link).await;
        assert_eq!(dl.status, 200);
        assert_eq!(dl.headers["content-type"], "image/png");
        assert!(dl.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("shot.png"));
        // Another tenant's people cannot fetch it, even naming their own tenant.
        let other = app.tenant().await;
        let mut eve = Browser::new(&app);
        eve.sign_in(&other.owner_email, &other.owner_password).await;
        assert_eq!(
            eve.get(&format!("/app/t/{}/attachments/{file}", other.slug))
                .await
                .status,
            404
        );
        assert_eq!(eve.get(&link).await.status, 404);
        app.stop().await;
    }
}

#[tokio::test]
async fn invitations_are_emailed_when_the_platform_has_a_mail_relay() {
    for db in dbs() {
        let smtp = switchboard_testkit::SmtpSink::start().await;
        let port = smtp.port;
        let app = TestApp::spawn_with(db, move |c| {
            c.channels.smtp_url =
                switchboard::config::Secret::new(format!("smtp://127.0.0.1:{port}"));
            c.channels.mail_from = "Acme support <no-reply@acme.example>".into();
        })
        .await;
        let t = app.tenant().await;
        let email = format!("{}@example.test", switchboard_testkit::unique("mailed"));
        let r = app
            .call(
                Method::POST,
                "/v1/invitations",
                Some(&t.key),
                Some(json!({"email": email, "role": "agent"})),
            )
            .await
            .expect(201);
        assert_eq!(r.body["emailed"], true);
        let url = r.body["url"].as_str().unwrap();
        let mail = smtp.received().concat();
        assert!(mail.contains(&email), "{mail}");
        assert!(mail.contains("no-reply@acme.example"));
        // The link is in the email as sent (quoted-printable may fold long lines).
        let unfolded = mail.replace("=\r\n", "").replace("=3D", "=");
        assert!(unfolded.contains(url), "{unfolded}");
        app.stop().await;
    }
}

#[tokio::test]
async fn the_newest_messages_are_read_per_tenant() {
    use switchboard_store::Access;
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let other = app.tenant().await;
        let conv = conversation(&app, &t, "first").await;
        for text in ["second", "third", "fourth"] {
            app.call(
                Method::POST,
                &format!("/v1/conversations/{conv}/messages"),
                Some(&t.key),
                Some(json!({"content": text, "private": text == "third"})),
            )
            .await
            .expect(201);
        }
        let id: switchboard_types::ConversationId = conv.parse().unwrap();
        let mine = app.core.find_tenant(&t.slug).await.unwrap();
        let theirs = app.core.find_tenant(&other.slug).await.unwrap();
        let mut tx = app
            .core
            .store()
            .tenant(&crate::store::ctx(&mine), Access::Read)
            .await
            .unwrap();
        let latest: Vec<String> = tx
            .latest_messages(&id, 2)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.content)
            .collect();
        assert_eq!(latest, vec!["third", "fourth"]);
        drop(tx);
        let mut tx = app
            .core
            .store()
            .tenant(&crate::store::ctx(&theirs), Access::Read)
            .await
            .unwrap();
        assert!(tx.latest_messages(&id, 10).await.unwrap().is_empty());
        app.stop().await;
    }
}

#[tokio::test]
async fn the_conversation_view_suggests_help_centre_articles_and_a_reply() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let other = app.tenant().await;
        let (_, portal_slug, _) =
            crate::kb::help_centre(&app, &t, &["cancel_order", "get_refund"], &[]).await;
        // Another tenant's help centre on the same words is never suggested here.
        crate::kb::help_centre(&app, &other, &["cancel_order"], &[]).await;
        let conv = conversation(&app, &t, "How can I cancel my order?").await;
        let quiet = conversation(&app, &t, "Bonjour").await;
        let mut b = Browser::new(&app);
        b.sign_in(&t.owner_email, &t.owner_password).await;
        let page = b
            .get(&format!("/app/t/{}/conversations/{conv}", t.slug))
            .await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Suggested articles"), "{}", page.body);
        let link = format!("/hc/{}/{portal_slug}/en/articles/cancel-order", t.slug);
        assert!(page.body.contains(&link), "{}", page.body);
        assert!(!page.body.contains(&format!("/hc/{}/", other.slug)));
        assert!(page.body.contains("id=\"use-suggestion\""), "{}", page.body);
        assert!(
            page.body.contains("Cancel Order"),
            "the suggested reply quotes the steps"
        );
        // Nothing to suggest for a message the help centre does not cover.
        let page = b
            .get(&format!("/app/t/{}/conversations/{quiet}", t.slug))
            .await;
        assert!(!page.body.contains("Suggested reply"), "{}", page.body);
        app.stop().await;
    }
}

#[tokio::test]
async fn admins_write_help_centre_articles_and_rules_in_the_console() {
    for db in dbs() {
        let app = TestApp::spawn(db).await;
        let t = app.tenant().await;
        let mut owner = Browser::new(&app);
        owner.sign_in(&t.owner_email, &t.owner_password).await;
        let base = format!("/app/t/{}/settings", t.slug);
        let csrf = owner.csrf();
        let hc = format!("{base}/help-centre");
        assert_eq!(owner.get(&hc).await.status, 200);
        let slug = switchboard_testkit::unique("help");
        let r = owner
            .post(
                &hc,
                &[
                    ("csrf", &csrf),
                    ("op", "create_portal"),
                    ("name", "Acme Help"),
                    ("slug", &slug),
                    ("locale", "en"),
                ],
            )
            .await;
        assert!(r.status.is_redirection() || r.status == 200, "{}", r.body);
        let page = owner.get(&hc).await;
        let portal = page
            .body
            .split("name=\"portal\"><option value=\"")
            .nth(1)
            .unwrap();
        let portal = &portal[..portal.find('"').unwrap()];
        let r = owner
            .post(
                &hc,
                &[
                    ("csrf", &csrf),
                    ("op", "create_article"),
                    ("portal", portal),
                    ("title", "Returning an item"),
                    ("body", "## Steps\n\n1. Open **Orders**.\n2. Press Return."),
                    ("status", "draft"),
                ],
            )
            .await;
        assert!(r.status.is_redirection() || r.status == 200, "{}", r.body);
        let public = format!("/hc/{}/{slug}/en/articles/returning-an-item", t.slug);
        app.call(Method::GET, &public, None, None).await.expect(404);
        let page = owner.get(&hc).await;
        let article = page.body.split("name=\"article\" value=\"").nth(1).unwrap();
        let article = article[..article.find('"').unwrap()].to_owned();
        owner
            .post(
                &hc,
                &[("csrf", &csrf), ("op", "publish"), ("article", &article)],
            )
            .await;
        let shown = app.call(Method::GET, &public, None, None).await.expect(200);
        assert!(
            shown.text.contains("<strong>Orders</strong>"),
            "{}",
            shown.text
        );
        // Another tenant's article id changes nothing here.
        let other = app.tenant().await;
        let foreign = owner
            .post(
                &hc,
                &[
                    ("csrf", &csrf),
                    ("op", "delete_article"),
                    ("article", "kba_01jd0000000000000000000000"),
                ],
            )
            .await;
        assert_eq!(foreign.status, 404, "{}", foreign.body);
        assert_eq!(
            owner
                .get(&format!("/app/t/{}/settings/help-centre", other.slug))
                .await
                .status,
            404
        );

        // Automation rules: written as JSON, switched off and on; bad JSON is refused.
        let rules = format!("{base}/automation");
        let definition = json!({"trigger": {"type": "message_created"},
            "conditions": {"field": "message.content", "op": "contains", "value": "refund"},
            "actions": [{"type": "set_priority", "priority": "high"}]})
        .to_string();
        let r = owner
            .post(
                &rules,
                &[
                    ("csrf", &csrf),
                    ("op", "create"),
                    ("name", "Refunds first"),
                    ("definition", &definition),
                ],
            )
            .await;
        assert!(r.status.is_redirection() || r.status == 200, "{}", r.body);
        let bad = owner
            .post(
                &rules,
                &[
                    ("csrf", &csrf),
                    ("op", "create"),
                    ("name", "Broken"),
                    ("definition", "{\"trigger\": 1}"),
                ],
            )
            .await;
        assert_eq!(bad.status, 400, "{}", bad.body);
        let listed = app
            .call(Method::GET, "/v1/automation/rules", Some(&t.key), None)
            .await
            .expect(200);
        assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
        let id = listed.body["data"][0]["id"].as_str().unwrap().to_owned();
        owner
            .post(&rules, &[("csrf", &csrf), ("op", "disable"), ("rule", &id)])
            .await;
        let one = app
            .call(
                Method::GET,
                &format!("/v1/automation/rules/{id}"),
                Some(&t.key),
                None,
            )
            .await
            .expect(200);
        assert_eq!(one.body["enabled"], false);
        // AI answers: switched on with a help centre and a model whose key is never shown again.
        let ai = format!("{base}/ai");
        assert_eq!(owner.get(&ai).await.status, 200);
        let r = owner
            .post(
                &ai,
                &[
                    ("csrf", &csrf),
                    ("op", "save"),
                    ("enabled", "on"),
                    ("portal", portal),
                    ("min_retrieval", "0.4"),
                    ("max_turns", "2"),
                    ("base_url", "https://llm.example/v1"),
                    ("model", "small"),
                    ("api_key", "sk-console-secret"),
                    ("budget", "5000"),
                ],
            )
            .await;
        assert!(r.status.is_redirection() || r.status == 200, "{}", r.body);
        let saved = app
            .call(Method::GET, "/v1/ai/settings", Some(&t.key), None)
            .await
            .expect(200);
        assert_eq!(saved.body["enabled"], true, "{}", saved.text);
        assert_eq!(saved.body["min_retrieval_confidence"], 0.4);
        assert_eq!(saved.body["generative"]["api_key_set"], true);
        let shown = owner.get(&ai).await;
        assert!(!shown.body.contains("sk-console-secret"));
        assert!(shown.body.contains("one is stored"));
        let bad = owner
            .post(
                &ai,
                &[("csrf", &csrf), ("op", "save"), ("min_retrieval", "lots")],
            )
            .await;
        assert_eq!(bad.status, 400, "{}", bad.body);

        // Agents do not reach these sections.
        let (email, password) = member(&app, &t, "agent").await;
        let mut agent = Browser::new(&app);
        agent.sign_in(&email, &password).await;
        assert_eq!(agent.get(&hc).await.status, 403);
        assert_eq!(agent.get(&rules).await.status, 403);
        assert_eq!(agent.get(&ai).await.status, 403);
        app.stop().await;
    }
}
