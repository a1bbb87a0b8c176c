//! [`Method`], a method description that names its message types, and
//! [`Describes`], what the client and server calls accept as a method.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use crate::{MethodInfo, MethodKind};

/// A [`MethodInfo`] that names the method's request and response types, so
/// the calls taking it infer them: no turbofish.
///
/// Const-constructible, so it is declared as a `static`; `Send` and `Sync`
/// whatever `Req` and `Resp` are. It dereferences to its [`MethodInfo`].
/// A subscription carries one message type, both its request and its
/// response: `Method<M, M>`.
///
/// ```
/// use psrpc_method::{Delivery, Method, MethodKind, Selection};
///
/// struct Hello;
/// struct Tick;
/// static GREET: Method<Hello, Hello> = Method::new("Greet", MethodKind::Unary(Selection::Queue { topics: false }));
/// static TICKS: Method<Tick, Tick> =
///     Method::new("Ticks", MethodKind::Subscription { delivery: Delivery::Every, topics: true });
///
/// assert_eq!(GREET.name, "Greet");
/// assert!(GREET.require_claim() && TICKS.has_topics());
/// ```
pub struct Method<Req, Resp> {
    info: MethodInfo,
    types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> Method<Req, Resp> {
    /// The method `name` (its wire name) of kind `kind`, whose requests are
    /// `Req` and responses `Resp`.
    ///
    /// ```
    /// use psrpc_method::{Method, MethodKind};
    /// static STATS: Method<u32, u64> = Method::new("GetStats", MethodKind::Multi { topics: false });
    /// assert!(STATS.multi());
    /// ```
    pub const fn new(name: &'static str, kind: MethodKind) -> Self {
        Method { info: MethodInfo::new(name, kind), types: PhantomData }
    }

    /// The untyped description.
    ///
    /// ```
    /// use psrpc_method::{Method, MethodInfo, MethodKind};
    /// static STATS: Method<u32, u64> = Method::new("GetStats", MethodKind::Multi { topics: false });
    /// assert_eq!(STATS.info(), &MethodInfo::new("GetStats", MethodKind::Multi { topics: false }));
    /// ```
    pub const fn info(&self) -> &MethodInfo {
        &self.info
    }
}

impl<Req, Resp> Deref for Method<Req, Resp> {
    type Target = MethodInfo;

    fn deref(&self) -> &MethodInfo {
        &self.info
    }
}

impl<Req, Resp> Clone for Method<Req, Resp> {
    fn clone(&self) -> Self {
        Method { info: self.info.clone(), types: PhantomData }
    }
}

impl<Req, Resp> fmt::Debug for Method<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Method")
            .field("info", &self.info)
            .field("req", &std::any::type_name::<Req>())
            .field("resp", &std::any::type_name::<Resp>())
            .finish()
    }
}

/// A description of a method whose requests are `Req` and responses `Resp`:
/// what the client and server calls take as their method.
///
/// A [`Method<Req, Resp>`] describes only its own types, so a call infers
/// them from it; a [`MethodInfo`] describes every pair, so a call taking
/// one names the types (`request_single::<Req, Resp>`) or infers them from
/// its other arguments.
///
/// ```
/// use psrpc_method::{Describes, Method, MethodInfo, MethodKind, Selection};
///
/// fn wire_name<Req, Resp>(method: &impl Describes<Req, Resp>) -> &str {
///     &method.method_info().name
/// }
/// const KIND: MethodKind = MethodKind::Unary(Selection::Queue { topics: false });
/// static TYPED: Method<String, u32> = Method::new("Typed", KIND);
/// static UNTYPED: MethodInfo = MethodInfo::new("Untyped", KIND);
///
/// assert_eq!(wire_name(&TYPED), "Typed");
/// assert_eq!(wire_name::<String, u32>(&UNTYPED), "Untyped");
/// ```
pub trait Describes<Req, Resp> {
    /// The untyped description.
    fn method_info(&self) -> &MethodInfo;
}

impl<Req, Resp> Describes<Req, Resp> for MethodInfo {
    fn method_info(&self) -> &MethodInfo {
        self
    }
}

impl<Req, Resp> Describes<Req, Resp> for Method<Req, Resp> {
    fn method_info(&self) -> &MethodInfo {
        &self.info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Selection;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn send_and_sync_whatever_the_types() {
        assert_send_sync::<Method<std::rc::Rc<u8>, *const u8>>();
    }

    #[test]
    fn clone_and_debug_keep_the_description() {
        let method: Method<u8, String> = Method::new("M", MethodKind::Unary(Selection::SingleServer));
        assert_eq!(method.clone().info(), method.info());
        let debug = format!("{method:?}");
        assert!(debug.contains("\"M\"") && debug.contains("u8") && debug.contains("String"), "{debug}");
    }
}
