//! Project role tokens, as Argo CD issues them: a JWT with `iss: argocd`,
//! `sub: proj:<project>:<role>`, `iat`, `nbf`, `exp` when it expires and
//! `jti` (its id), signed with `argocd-secret` `server.secretkey`. Tokens
//! Argo CD issued under the same key are accepted while their record
//! exists, as are those driftless issued before with its own issuer and a
//! `kind` claim. Its record `{iat,
//! exp, id}` (no secret) goes to the role's `jwtTokens` and to
//! `status.jwtTokensByRole`; deleting the record revokes the token. The
//! API and the CLI (`driftless proj role create-token`) issue and revoke
//! through these functions alike.

use driftless_api::{AppProject, JwtToken};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::auth::token::{self, Claims};
use crate::settings::ARGOCD_SECRET;

/// Why a token cannot be issued or revoked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such AppProject.
    #[error("project {project:?} not found in namespace {namespace}")]
    NoProject {
        /// The project.
        project: String,
        /// The control-plane namespace.
        namespace: String,
    },
    /// The project has no such role.
    #[error("project {project:?} has no role {role:?}")]
    NoRole {
        /// The project.
        project: String,
        /// The role.
        role: String,
    },
    /// The id is taken.
    #[error("role {role:?} of project {project:?} already has a token with id {id:?}")]
    DuplicateId {
        /// The project.
        project: String,
        /// The role.
        role: String,
        /// The id asked for.
        id: String,
    },
    /// A negative lifetime.
    #[error("expiresIn: must not be negative, got {0}")]
    NegativeExpiry(i64),
    /// Nothing to revoke.
    #[error("role {role:?} of project {project:?} has no token {which}")]
    NoToken {
        /// The project.
        project: String,
        /// The role.
        role: String,
        /// `id "x"` or `issued at N`.
        which: String,
    },
    /// No signing key.
    #[error("{ARGOCD_SECRET} in namespace {0} has no server.secretkey: start `driftless server` once to generate it")]
    NoKey(String),
    /// The API server failed (a 409 means others kept changing the project).
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// What failed.
        #[source]
        source: kube::Error,
    },
}

/// Which token of a role: by id when given, else by issue time (Argo CD's
/// `delete-token ... IAT`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Which {
    /// The token's id (its `jti`).
    Id(String),
    /// Issued at (Unix seconds).
    IssuedAt(i64),
}

impl Which {
    fn matches(&self, t: &JwtToken) -> bool {
        match self {
            Which::Id(id) => t.id.as_deref() == Some(id),
            Which::IssuedAt(iat) => t.iat == *iat,
        }
    }
}

impl std::fmt::Display for Which {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Which::Id(id) => write!(f, "with id {id:?}"),
            Which::IssuedAt(iat) => write!(f, "issued at {iat}"),
        }
    }
}

/// A token just issued.
pub struct Issued {
    /// The JWT.
    pub token: String,
    /// Its record, as kept in the project.
    pub record: JwtToken,
    /// The project as stored after the record was added.
    pub project: AppProject,
}

/// Every token record of `role`: the role's own and the status's.
pub fn records<'a>(project: &'a AppProject, role: &str) -> impl Iterator<Item = &'a JwtToken> {
    let spec = project.spec.roles.iter().filter(move |r| r.name == role).flat_map(|r| r.jwt_tokens.iter());
    let status = project.status.iter().filter_map(move |s| s.jwt_tokens_by_role.get(role)).flat_map(|t| t.items.iter());
    spec.chain(status)
}

/// Whether a token of `role` issued at `iat` with id `id` is still valid
/// in `project`: the role exists and lists it (by id and issue time; by
/// issue time alone for a token without id).
pub fn valid(project: &AppProject, role: &str, iat: i64, id: Option<&str>) -> bool {
    project.spec.roles.iter().any(|r| r.name == role)
        && records(project, role).any(|t| t.iat == iat && id.is_none_or(|id| t.id.as_deref() == Some(id)))
}

/// The signing key of the control plane in `namespace`.
pub async fn signing_key(client: &kube::Client, namespace: &str) -> Result<Vec<u8>, Error> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = secrets
        .get_opt(ARGOCD_SECRET)
        .await
        .map_err(|source| Error::Api { what: format!("read {ARGOCD_SECRET} in namespace {namespace}"), source })?;
    secret.and_then(|s| s.data).and_then(|mut d| d.remove("server.secretkey")).map(|k| k.0).ok_or_else(|| Error::NoKey(namespace.into()))
}

/// Issues a token for `role` of `project`, recording it first: a token
/// never exists without its record. `expires_in` 0 is never; `id` is
/// random when absent.
pub async fn issue(
    client: &kube::Client,
    namespace: &str,
    project: &str,
    role: &str,
    key: &[u8],
    expires_in: i64,
    id: Option<String>,
) -> Result<Issued, Error> {
    if expires_in < 0 {
        return Err(Error::NegativeExpiry(expires_in));
    }
    let api: Api<AppProject> = Api::namespaced(client.clone(), namespace);
    let current = read(&api, namespace, project).await?;
    if !current.spec.roles.iter().any(|r| r.name == role) {
        return Err(Error::NoRole { project: project.into(), role: role.into() });
    }
    let id = id.filter(|i| !i.is_empty()).unwrap_or_else(|| crate::auth::accounts::random_token(12));
    if records(&current, role).any(|t| t.id.as_deref() == Some(id.as_str())) {
        return Err(Error::DuplicateId { project: project.into(), role: role.into(), id });
    }
    let iat = crate::auth::unix_now();
    let exp = (expires_in > 0).then_some(iat + expires_in);
    let record = JwtToken { iat, exp, id: Some(id.clone()) };
    let stored = write(&api, namespace, project, role, |tokens| {
        if !tokens.iter().any(|t| t.id == record.id) {
            tokens.push(record.clone());
        }
    })
    .await?;
    let claims = Claims::project(project, role, iat, exp, id);
    Ok(Issued { token: token::sign(&claims, key), record, project: stored })
}

/// Revokes `which` token(s) of `role`: deletes their records from the role
/// and from the status. Returns the project as stored.
pub async fn revoke(client: &kube::Client, namespace: &str, project: &str, role: &str, which: &Which) -> Result<AppProject, Error> {
    let api: Api<AppProject> = Api::namespaced(client.clone(), namespace);
    let current = read(&api, namespace, project).await?;
    if !current.spec.roles.iter().any(|r| r.name == role) {
        return Err(Error::NoRole { project: project.into(), role: role.into() });
    }
    if !records(&current, role).any(|t| which.matches(t)) {
        return Err(Error::NoToken { project: project.into(), role: role.into(), which: which.to_string() });
    }
    write(&api, namespace, project, role, |tokens| tokens.retain(|t| !which.matches(t))).await
}

async fn read(api: &Api<AppProject>, namespace: &str, project: &str) -> Result<AppProject, Error> {
    api.get_opt(project)
        .await
        .map_err(|source| Error::Api { what: format!("read AppProject {project} in namespace {namespace}"), source })?
        .ok_or_else(|| Error::NoProject { project: project.into(), namespace: namespace.into() })
}

/// How often a write is tried again when the project changed under it.
const CONFLICT_RETRIES: usize = 5;

/// Applies `change` to the role's tokens in the spec, then in the status
/// (through its subresource), each write conditional on the
/// resourceVersion read; a conflict reads again and applies `change`
/// again (it must be idempotent).
async fn write(
    api: &Api<AppProject>,
    namespace: &str,
    project: &str,
    role: &str,
    change: impl Fn(&mut Vec<JwtToken>),
) -> Result<AppProject, Error> {
    let what = |w: &str| format!("{w} of AppProject {project} in namespace {namespace}");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut current = read(api, namespace, project).await?;
        let mut roles = current.spec.roles.clone();
        let spec_role =
            roles.iter_mut().find(|r| r.name == role).ok_or_else(|| Error::NoRole { project: project.into(), role: role.into() })?;
        change(&mut spec_role.jwt_tokens);
        if roles != current.spec.roles {
            let patch = json!({ "metadata": { "resourceVersion": current.metadata.resource_version }, "spec": { "roles": roles } });
            match api.patch(project, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(p) => current = p,
                Err(kube::Error::Api(s)) if s.code == 409 && attempt < CONFLICT_RETRIES => continue,
                Err(source) => return Err(Error::Api { what: what("update the roles"), source }),
            }
        }
        let before: Vec<JwtToken> =
            current.status.as_ref().and_then(|s| s.jwt_tokens_by_role.get(role)).map(|t| t.items.clone()).unwrap_or_default();
        let mut after = before.clone();
        change(&mut after);
        if after == before {
            return Ok(current);
        }
        // A merge patch replaces this role's list and no other's; an empty
        // list removes the role's entry.
        let items: Value = if after.is_empty() { Value::Null } else { json!({ "items": after }) };
        let patch = json!({ "metadata": { "resourceVersion": current.metadata.resource_version }, "status": { "jwtTokensByRole": { role: items } } });
        match api.patch_status(project, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(p) => return Ok(p),
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < CONFLICT_RETRIES => continue,
            Err(source) => return Err(Error::Api { what: what("update the status"), source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_valid_while_its_role_lists_it_in_spec_or_status() {
        let mut p: AppProject = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": { "name": "team" },
            "spec": { "roles": [{ "name": "ci", "jwtTokens": [{ "iat": 100, "id": "a" }] }, { "name": "other" }] },
            "status": { "jwtTokensByRole": { "ci": { "items": [{ "iat": 200, "id": "b" }] }, "gone": { "items": [{ "iat": 300 }] } } },
        }))
        .expect("valid project");
        assert!(valid(&p, "ci", 100, Some("a")) && valid(&p, "ci", 200, Some("b")));
        assert!(valid(&p, "ci", 100, None), "a token without id by its issue time");
        assert!(!valid(&p, "ci", 100, Some("b")), "id and issue time must agree");
        assert!(!valid(&p, "other", 100, Some("a")), "another role's token");
        assert!(!valid(&p, "gone", 300, None), "a role that no longer exists");
        assert!(
            Which::IssuedAt(100).matches(&p.spec.roles[0].jwt_tokens[0]) && !Which::Id("b".into()).matches(&p.spec.roles[0].jwt_tokens[0])
        );
        p.spec.roles[0].jwt_tokens.clear();
        assert!(!valid(&p, "ci", 100, Some("a")), "revoked");
    }
}
