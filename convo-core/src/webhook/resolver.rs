//! The DNS resolver of the webhook client: it applies the address rules to
//! what a name resolves to, at connect time.
//!
//! reqwest hands every host name to this resolver and connects only to the
//! addresses it returns (reqwest's `ClientBuilder::dns_resolver`), so the
//! address judged is the address connected to: a name that resolves to
//! `127.0.0.1`, or that a hostile DNS server rebinds between two lookups,
//! is refused before any connection.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address::non_global;
use super::Refusal;

/// The system resolver (`getaddrinfo`, as reqwest's default), with the
/// address rules when private networks are not allowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardedResolver {
    pub(crate) allow_private_networks: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private_networks = self.allow_private_networks;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            // Port 0: reqwest puts the URL's port on each address.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private_networks {
                // One refused address refuses the name: connecting to the
                // others only would leave the choice to the name's owner.
                let refused = addrs
                    .iter()
                    .find_map(|addr| non_global(addr.ip()).map(|class| (addr.ip(), class)));
                if let Some((ip, class)) = refused {
                    return Err(Box::new(Refusal::Resolved { host, ip, class }) as _);
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::webhook::AddressClass;

    async fn resolve(host: &str, allow_private_networks: bool) -> Result<Vec<SocketAddr>, String> {
        let name = Name::from_str(host).map_err(|e| e.to_string())?;
        let resolver = GuardedResolver {
            allow_private_networks,
        };
        match resolver.resolve(name).await {
            Ok(addrs) => Ok(addrs.collect()),
            Err(e) => match e.downcast_ref::<Refusal>() {
                Some(Refusal::Resolved { class, .. }) => Err(format!("refused: {class:?}")),
                _ => Err(e.to_string()),
            },
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused() {
        let outcome = resolve("localhost", false).await;
        assert_eq!(
            outcome,
            Err(format!("refused: {:?}", AddressClass::Loopback))
        );
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_passes_when_private_networks_are_allowed() {
        let addrs = resolve("localhost", true).await.expect("resolves");
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
