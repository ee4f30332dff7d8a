//! The OpenAPI (Swagger 2.0, like Argo CD's) description of the server,
//! built from the same table that registers the routes: a route cannot be
//! served without being documented.

use axum::Router;
use axum::routing::MethodRouter;
use serde_json::{Map, Value, json};

/// One documented operation.
#[derive(Clone, Debug)]
pub struct Doc {
    /// `get`, `post`, `put`, `delete`.
    pub method: &'static str,
    /// The path, with `{param}`s.
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Its group (`ApplicationService`, `SessionService`, ...).
    pub tag: &'static str,
}

/// A router that documents each route as it registers it.
pub struct Routes<S> {
    router: Router<S>,
    docs: Vec<Doc>,
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    /// No routes yet.
    pub fn new() -> Routes<S> {
        Routes { router: Router::new(), docs: Vec::new() }
    }

    /// Registers `handler` at `path`, documented by one `(method, summary)`
    /// per method it answers.
    pub fn route(mut self, tag: &'static str, path: &'static str, ops: &[(&'static str, &'static str)], handler: MethodRouter<S>) -> Self {
        self.router = self.router.route(path, handler);
        self.docs.extend(ops.iter().map(|(method, summary)| Doc { method, path, summary, tag }));
        self
    }

    /// Merges a router whose routes are documented by `ops` (the UI's).
    pub fn merge(mut self, tag: &'static str, ops: &[(&'static str, &'static str, &'static str)], router: Router<S>) -> Self {
        self.router = self.router.merge(router);
        self.docs.extend(ops.iter().map(|(method, path, summary)| Doc { method, path, summary, tag }));
        self
    }

    /// The router and the documentation of its routes.
    pub fn finish(self) -> (Router<S>, Vec<Doc>) {
        (self.router, self.docs)
    }
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Routes::new()
    }
}

/// The Swagger 2.0 document of `docs`.
pub fn spec(docs: &[Doc]) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for d in docs {
        let params: Vec<Value> = d
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|p| json!({ "name": p.trim_start_matches('*'), "in": "path", "required": true, "type": "string" }))
            .collect();
        let op_id = format!("{}_{}", d.tag, d.summary.split_whitespace().collect::<Vec<_>>().join(""));
        let entry = paths.entry(d.path.to_string()).or_insert_with(|| json!({}));
        entry[d.method] = json!({
            "summary": d.summary,
            "operationId": op_id,
            "tags": [d.tag],
            "parameters": params,
            "responses": { "200": { "description": "A successful response." } },
        });
    }
    json!({
        "swagger": "2.0",
        "info": { "title": "driftless API (Argo CD compatible)", "version": env!("CARGO_PKG_VERSION") },
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": { "bearer": { "type": "apiKey", "name": "Authorization", "in": "header" } },
        "security": [{ "bearer": [] }],
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_declared() {
        let docs = [Doc { method: "get", path: "/api/v1/applications/{name}", summary: "Get an app", tag: "ApplicationService" }];
        let s = spec(&docs);
        let op = &s["paths"]["/api/v1/applications/{name}"]["get"];
        assert_eq!(op["parameters"][0]["name"], "name");
        assert_eq!(op["operationId"], "ApplicationService_Getanapp");
    }
}
