//! DPoP (RFC 9449): sender-constrained tokens, from the token endpoint to the API.
//!
//! ```text
//! cargo run --example dpop             # a scripted tour; exits 0 when every answer is right
//! cargo run --example dpop -- --serve  # the tour, then keep serving, with a page that does
//!                                      # the same from a browser (WebCrypto, another origin)
//! ```
//!
//! Three servers on 127.0.0.1: the testkit's authorization server, whose token endpoint
//! binds a token to the key of the DPoP proof sent with the request (`cnf.jkt`); an API that
//! accepts only DPoP-bound tokens, each request with a fresh proof that carries the API's
//! nonce; and (with `--serve`) a page on a third origin. The tour is a Rust client with
//! `reqwest` and the testkit's `DpopClient`.

// An example prints. Indexing is into serde_json values only, which gives `Null` for a
// missing member rather than panicking.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::indexing_slicing)]

mod demo;

use std::process::ExitCode;

use portcullis::jwt::Algorithm;
use portcullis_testkit::{DpopClient, tamper};
use serde_json::Value;

const USAGE: &str = "usage: dpop [--serve]";

#[tokio::main]
async fn main() -> ExitCode {
    let serve = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => false,
        [flag] if flag == "--serve" => true,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let demo = match demo::start().await {
        Ok(demo) => demo,
        Err(message) => {
            eprintln!("dpop: {message}");
            return ExitCode::FAILURE;
        }
    };
    println!("authorization server  {}", demo.idp.issuer());
    println!("token endpoint        {}", demo.idp.token_url());
    println!("protected API         {}\n", demo.api_url());
    let wrong = match tour(&demo).await {
        Ok(wrong) => wrong,
        Err(message) => {
            eprintln!("dpop: {message}");
            return ExitCode::FAILURE;
        }
    };
    if wrong == 0 {
        println!("\nevery answer as expected");
    } else {
        println!("\n{wrong} unexpected answer(s)");
        return ExitCode::FAILURE;
    }
    if serve {
        println!("\nthe same from a browser, on another origin than the API:\n");
        println!("    {}/\n", demo.page);
        println!("(any browser: http://127.0.0.1 is a secure context, so WebCrypto works)");
        println!("serving until Ctrl-C");
        let _ = tokio::signal::ctrl_c().await;
    }
    ExitCode::SUCCESS
}

/// One answer, as the client saw it.
struct Answer {
    status: u16,
    /// The `WWW-Authenticate` challenges, joined.
    challenges: String,
    nonce: Option<String>,
    body: String,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Result<Answer, String> {
        let status = response.status().as_u16();
        let headers = response.headers();
        let challenges = headers
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        let nonce = headers
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.map_err(|e| e.to_string())?;
        Ok(Answer {
            status,
            challenges,
            nonce,
            body,
        })
    }

    /// The `error` of the challenges, if any.
    fn error(&self) -> Option<&str> {
        let (_, rest) = self.challenges.split_once("error=\"")?;
        rest.split('"').next()
    }
}

/// Counts and prints the steps.
struct Tour {
    wrong: usize,
}

impl Tour {
    /// Prints one step: `ok` when the status is `status` and the challenge's error `error`.
    fn step(&mut self, what: &str, answer: &Answer, status: u16, error: Option<&str>) -> bool {
        let ok = answer.status == status && answer.error() == error;
        let detail = match (answer.error(), &answer.nonce) {
            (Some(error), Some(_)) => format!("error={error}, DPoP-Nonce given"),
            (Some(error), None) => format!("error={error}"),
            (None, Some(_)) => "DPoP-Nonce given".to_owned(),
            (None, None) => String::new(),
        };
        println!(
            "{} {what:<46} {} {detail}",
            if ok { "ok  " } else { "FAIL" },
            answer.status
        );
        if !ok {
            let expected = error.map(|e| format!(" error={e}")).unwrap_or_default();
            println!("      expected {status}{expected}");
            self.wrong += 1;
        }
        ok
    }
}

/// The Rust client's flow; the number of unexpected answers.
async fn tour(demo: &demo::Demo) -> Result<usize, String> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let client = DpopClient::new(Algorithm::ES256);
    let token_url = demo.idp.token_url();
    let api_url = demo.api_url();
    let mut tour = Tour { wrong: 0 };
    let form = format!(
        "grant_type=client_credentials&scope=read&client_id={}&client_secret={}",
        demo::CLIENT_ID,
        demo::CLIENT_SECRET
    );
    let token_request = |proof: String| {
        http.post(&token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("dpop", proof)
            .body(form.clone())
            .send()
    };
    let send = |r: reqwest::RequestBuilder| async move {
        Answer::of(r.send().await.map_err(|e| e.to_string())?).await
    };

    // 1. The token, with a proof for the token endpoint: bound to the client's key.
    let got = Answer::of(
        token_request(client.proof("POST", &token_url).sign())
            .await
            .map_err(|e| e.to_string())?,
    )
    .await?;
    tour.step("token endpoint, with a proof", &got, 200, None);
    let body: Value = serde_json::from_str(&got.body).map_err(|e| e.to_string())?;
    let token = body["access_token"]
        .as_str()
        .ok_or("the token endpoint gave no access_token")?
        .to_owned();
    let claims: Value =
        serde_json::from_str(&tamper::parts(&token).1).map_err(|e| e.to_string())?;
    let bound = claims["cnf"]["jkt"] == client.jkt().as_str();
    println!(
        "{} {:<46} token_type {}, cnf.jkt {}",
        if bound && body["token_type"] == "DPoP" {
            "ok  "
        } else {
            "FAIL"
        },
        "  the token is bound to the client's key",
        body["token_type"],
        claims["cnf"]["jkt"]
    );
    if !bound || body["token_type"] != "DPoP" {
        tour.wrong += 1;
    }

    // 2. A proof made for another URL: no token.
    let refused = Answer::of(
        token_request(client.proof("POST", &api_url).sign())
            .await
            .map_err(|e| e.to_string())?,
    )
    .await?;
    let error: Value = serde_json::from_str(&refused.body).unwrap_or_default();
    let ok = refused.status == 400 && error["error"] == "invalid_dpop_proof";
    println!(
        "{} {:<46} {} {}",
        if ok { "ok  " } else { "FAIL" },
        "token endpoint, a proof for another URL",
        refused.status,
        error["error"]
    );
    tour.wrong += usize::from(!ok);

    let call = |proof: String| {
        http.get(&api_url)
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
    };
    let proof = |nonce: Option<&str>| {
        let p = client.proof("GET", &api_url).token(&token);
        match nonce {
            Some(nonce) => p.nonce(nonce).sign(),
            None => p.sign(),
        }
    };

    // 3. The nonce round trip: the API hands out its nonce, the retry carries it.
    let first = send(call(proof(None))).await?;
    tour.step(
        "API, a proof without a nonce",
        &first,
        401,
        Some("use_dpop_nonce"),
    );
    let Some(mut nonce) = first.nonce.clone() else {
        println!("FAIL   no DPoP-Nonce in the answer");
        return Ok(tour.wrong + 1);
    };
    let retry = send(call(proof(Some(&nonce)))).await?;
    tour.step("API, again with the nonce", &retry, 200, None);
    if let Some(next) = retry.nonce {
        nonce = next;
    }

    // 4. A call with a fresh proof, then the same proof again.
    let used = proof(Some(&nonce));
    let call_ok = send(call(used.clone())).await?;
    if tour.step("API, a fresh proof", &call_ok, 200, None) {
        println!("      {}", call_ok.body);
    }
    let replay = send(call(used)).await?;
    tour.step(
        "API, the same proof replayed",
        &replay,
        401,
        Some("invalid_dpop_proof"),
    );

    // 5. The token without its proof (as a stolen bearer token would be sent).
    let bearer = send(
        http.get(&api_url)
            .header("authorization", format!("Bearer {token}")),
    )
    .await?;
    tour.step("API, the token as a bearer token", &bearer, 401, None);

    // 6. A proof by another key than the token's.
    let thief = DpopClient::new(Algorithm::ES256);
    let stolen = send(call(
        thief
            .proof("GET", &api_url)
            .token(&token)
            .nonce(&nonce)
            .sign(),
    ))
    .await?;
    tour.step(
        "API, a proof by another key",
        &stolen,
        401,
        Some("invalid_token"),
    );
    Ok(tour.wrong)
}
