//! Time as Kubernetes keeps it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Now, as a Kubernetes timestamp: whole seconds, as the API server keeps
/// it, so that a status read back compares equal to the one written.
pub fn now() -> Time {
    let secs = k8s_openapi::jiff::Timestamp::now().as_second();
    Time(k8s_openapi::jiff::Timestamp::from_second(secs).expect("now is a valid timestamp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_whole_seconds_as_the_api_server_keeps_it() {
        let t = now();
        let back: Time = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }
}
