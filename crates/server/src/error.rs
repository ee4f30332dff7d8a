//! Errors as HTTP responses, in Argo CD's shape `{"error","code","message"}`
//! (`code` is the gRPC status code Argo CD's gateway reports).

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// An error answered to a client. Internal errors are logged in full and
/// answered with a generic message, so no cluster detail leaks.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with a status and a message meant for the client.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no valid session or token.
    pub fn unauthenticated() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "no session information: log in (POST /api/v1/session) or send a bearer token")
    }

    /// 403: the policy does not allow it.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 403 in Argo CD's words, the same whether the object exists or not.
    pub fn permission_denied(resource: &str, action: &str, object: &str, username: &str) -> ApiError {
        ApiError::forbidden(format!("permission denied: {resource}, {action}, {object}, sub: {username}"))
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: the request conflicts with the object's state.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    /// 500, with the cause logged but not answered.
    pub fn internal(what: &str, cause: impl std::fmt::Display) -> ApiError {
        tracing::error!("{what}: {cause}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error while trying to {what}; see the server's log"))
    }

    /// A Kubernetes API error met while doing `what`: not found and conflicts
    /// keep their meaning, anything else is internal.
    pub fn kube(what: &str, err: kube::Error) -> ApiError {
        match &err {
            kube::Error::Api(s) if s.code == 404 => ApiError::not_found(format!("{what}: not found")),
            kube::Error::Api(s) if s.code == 409 => ApiError::conflict(format!("{what}: {}", s.message)),
            kube::Error::Api(s) if s.code == 422 || s.code == 400 => ApiError::bad_request(format!("{what}: {}", s.message)),
            _ => ApiError::internal(what, err),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// gRPC's code for the status, as Argo CD's REST gateway reports it.
    fn grpc_code(&self) -> u16 {
        match self.status {
            StatusCode::BAD_REQUEST => 3,
            StatusCode::NOT_FOUND => 5,
            StatusCode::CONFLICT => 9,
            StatusCode::FORBIDDEN => 7,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::PAYLOAD_TOO_LARGE => 8,
            StatusCode::REQUEST_TIMEOUT => 4,
            StatusCode::UNAUTHORIZED => 16,
            StatusCode::SERVICE_UNAVAILABLE => 14,
            _ => 13,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message, "code": self.grpc_code(), "message": self.message });
        (self.status, Json(body)).into_response()
    }
}
