//! [`dyn_twin!`]: the boxed `Dyn…` twin of a transport trait, written once.
//!
//! Each invocation generates a private object-safe `Erased…` trait whose methods return
//! `BoxFuture`s, a blanket impl of it for every implementor of the public trait, the public
//! `Dyn…` handle (an `Arc` of it, cheap to clone) with `new` and `Debug`, and — unless the
//! handle's impl is written by hand — the public trait for the handle.
//!
//! A method's reference arguments each name their own lifetime (`fn join<'g, 't>(&self, group:
//! &'g Group, topics: &'t [Topic])`), so the handle's method has exactly the trait's signature;
//! the boxed future lives as long as the shortest of them. `=> f` maps the backend's output
//! into the erased one (a concrete stream into a boxed stream).

/// Generates the `Dyn…` twin of a trait; see the [module docs](self).
macro_rules! dyn_twin {
    (
        $(#[$meta:meta])*
        pub struct $dyn:ident: $trait:ident via $erased:ident $(, impl $by_hand:ident)? {
            $(type $assoc:ident = $assoc_ty:ty;)*
            $(sync fn $get:ident(&self) -> $get_ty:ty;)*
            $(fn $m:ident $(<$($lt:lifetime),*>)? (&self $(, $arg:ident: $ty:ty)*) -> $ret:ty $(=> $map:expr)?;)*
        }
    ) => {
        trait $erased: Send + Sync {
            $(fn $get(&self) -> $get_ty;)*
            $(
                fn $m<'erased $($(, $lt: 'erased)*)?>(&'erased self $(, $arg: $ty)*)
                    -> futures::future::BoxFuture<'erased, $ret>;
            )*
        }

        impl<T: $trait> $erased for T {
            $(fn $get(&self) -> $get_ty { $trait::$get(self) })*
            $(
                fn $m<'erased $($(, $lt: 'erased)*)?>(&'erased self $(, $arg: $ty)*)
                    -> futures::future::BoxFuture<'erased, $ret> {
                    Box::pin(async move {
                        let out = $trait::$m(self $(, $arg)*).await;
                        $(let out = ($map)(out);)?
                        out
                    })
                }
            )*
        }

        $(#[$meta])*
        #[derive(Clone)]
        pub struct $dyn(std::sync::Arc<dyn $erased>);

        impl $dyn {
            #[doc = concat!("Erases the type of a [`", stringify!($trait), "`].")]
            pub fn new(inner: impl $trait + 'static) -> Self {
                $dyn(std::sync::Arc::new(inner))
            }
        }

        impl std::fmt::Debug for $dyn {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($dyn))
            }
        }

        $crate::erased::dyn_twin!(@impl $($by_hand)? $dyn: $trait {
            $(type $assoc = $assoc_ty;)*
            $(sync fn $get(&self) -> $get_ty;)*
            $(fn $m $(<$($lt),*>)? (&self $(, $arg: $ty)*) -> $ret;)*
        });
    };

    (@impl by_hand $($rest:tt)*) => {};

    (@impl $dyn:ident: $trait:ident {
        $(type $assoc:ident = $assoc_ty:ty;)*
        $(sync fn $get:ident(&self) -> $get_ty:ty;)*
        $(fn $m:ident $(<$($lt:lifetime),*>)? (&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*
    }) => {
        impl $trait for $dyn {
            $(type $assoc = $assoc_ty;)*
            $(fn $get(&self) -> $get_ty { self.0.$get() })*
            $(
                // The async block captures each argument's lifetime on its own; the erased
                // future lives for the shortest of them.
                fn $m $(<$($lt),*>)? (&self $(, $arg: $ty)*)
                    -> impl std::future::Future<Output = $ret> + Send {
                    async move { self.0.$m($($arg),*).await }
                }
            )*
        }
    };
}

pub(crate) use dyn_twin;
