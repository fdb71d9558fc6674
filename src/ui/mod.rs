pub fn sanitize(s: &str) -> String { s.to_string() }
