//! [`Topics`], the topics a call or a registration addresses.

/// The topics a call, a subscription or a registration addresses.
///
/// The calls take `impl Into<Topics>`, so topics are written as they come:
/// `()` or `[]` for none, one topic as `"a"`, a `String` or a `&String`,
/// several as `["a", "b"]`, a slice of `String`s or `&str`s, or a
/// `Vec<String>` (`vec![]` included).
///
/// ```
/// use psrpc_method::Topics;
///
/// fn topics(topics: impl Into<Topics>) -> Vec<String> {
///     topics.into().into_vec()
/// }
/// let owned = vec!["a".to_string(), "b".to_string()];
/// assert!(topics(()).is_empty() && topics([]).is_empty() && topics(vec![]).is_empty());
/// assert_eq!(topics("a"), ["a"]);
/// assert_eq!(topics(String::from("a")), ["a"]);
/// assert_eq!(topics(["a", "b"]), ["a", "b"]);
/// assert_eq!(topics(&owned[..]), ["a", "b"]);
/// assert_eq!(topics(&owned), ["a", "b"]);
/// assert_eq!(topics(owned), ["a", "b"]);
/// ```
///
/// A `Vec<&str>` is passed as a slice (`&names[..]`): a second `Vec`
/// conversion would leave `vec![]` without a type to infer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Topics(Vec<String>);

impl Topics {
    /// The topics, in order.
    ///
    /// ```
    /// use psrpc_method::Topics;
    /// assert_eq!(Topics::from(["eu", "us"]).into_vec(), ["eu", "us"]);
    /// ```
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl From<()> for Topics {
    fn from((): ()) -> Self {
        Topics(Vec::new())
    }
}

impl From<Vec<String>> for Topics {
    fn from(topics: Vec<String>) -> Self {
        Topics(topics)
    }
}

impl From<&Vec<String>> for Topics {
    fn from(topics: &Vec<String>) -> Self {
        Topics(topics.clone())
    }
}

impl<T: AsRef<str>> From<&[T]> for Topics {
    fn from(topics: &[T]) -> Self {
        Topics(topics.iter().map(|t| t.as_ref().to_owned()).collect())
    }
}

impl<const N: usize> From<[&str; N]> for Topics {
    fn from(topics: [&str; N]) -> Self {
        Topics(topics.map(str::to_owned).to_vec())
    }
}

impl From<&str> for Topics {
    fn from(topic: &str) -> Self {
        Topics(vec![topic.to_owned()])
    }
}

impl From<String> for Topics {
    fn from(topic: String) -> Self {
        Topics(vec![topic])
    }
}

impl From<&String> for Topics {
    fn from(topic: &String) -> Self {
        Topics(vec![topic.clone()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(topics: impl Into<Topics>) -> Vec<String> {
        topics.into().into_vec()
    }

    /// The forms written before `Topics` existed infer `Vec<String>`.
    #[test]
    fn vec_literals_infer_strings() {
        let region = "eu";
        assert_eq!(topics(vec!["a".into(), region.to_owned()]), ["a", "eu"]);
        assert_eq!(topics(vec![format!("{region}-1")]), ["eu-1"]);
        assert!(topics(vec![]).is_empty());
    }

    #[test]
    fn slices_of_str_and_empty_forms() {
        let names = ["a", "b"];
        assert_eq!(topics(&names[..]), ["a", "b"]);
        assert_eq!(Topics::from(()), Topics::default());
        assert_eq!(Topics::from([]), Topics::default());
    }
}
