//! Test tool for the network lab (not part of Kith): a small Mainline DHT of its own, and a
//! probe that looks for a node's address record the way a stranger and a friend would.
//!
//! `lab_dht testnet IP COUNT` runs COUNT DHT nodes bound to IP, prints their bootstrap list
//! (comma-separated) on one line and runs until stdin closes.
//! `lab_dht probe BOOTSTRAP PEER_ID [INVITE_LINK]` prints `stranger: N` (records found by
//! every key a stranger can compute from the peer ID alone) and, given an invite of that peer
//! (which carries its own lookup secret, under which the peer publishes while the invite lives), `friend: ADDR,ADDR…` or `friend: none`.
//! `lab_dht displace BOOTSTRAP INVITE_LINK` publishes, as whoever holds an old link could, a
//! record with no address and a sequence number a day ahead under the link's lookup key (today's),
//! signed by a key of its own, and prints `displaced`.

use std::io::Read;

use anyhow::{bail, Context, Result};
use futures_lite::StreamExt;
use kith_proto::dht_record::{lookup_days, RecordKeys};
use kith_proto::identity::PeerId;
use mainline::{Dht, Testnet};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["testnet", ip, count] => testnet(ip.parse()?, count.parse()?),
        ["probe", bootstrap, peer] => probe(bootstrap, peer, None),
        ["probe", bootstrap, peer, invite] => probe(bootstrap, peer, Some(invite)),
        ["displace", bootstrap, invite] => displace(bootstrap, invite),
        _ => bail!(
            "usage: lab_dht testnet IP COUNT | probe BOOTSTRAP PEER_ID [INVITE_LINK] | \
             displace BOOTSTRAP INVITE_LINK"
        ),
    }
}

fn testnet(ip: std::net::Ipv4Addr, count: usize) -> Result<()> {
    let net = Testnet::builder(count).bind_address(ip).build()?;
    println!("{}", net.bootstrap.join(","));
    // Run until whoever started us closes stdin (or kills us).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}

fn displace(bootstrap: &str, link: &str) -> Result<()> {
    let nodes: Vec<String> = bootstrap.split(',').map(String::from).collect();
    let inv = kith_proto::invite::parse(link, 0).context("invite")?;
    let secret = inv.lookup.context("the invite has no lookup secret")?;
    let keys = RecordKeys::derive(
        &secret,
        kith_proto::dht_record::day_of(kith_node::clock::now()),
    );
    let me = kith_proto::identity::Identity::generate().context("a key")?;
    let client = kith_node::net::dht::DhtClient::start(Some(&nodes), None)?;
    let ahead = kith_node::clock::now_ms() + 86_400_000;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(client.publish(&keys, &me, ahead, &[]))
        .context("publishing over the record")?;
    println!("displaced");
    Ok(())
}

fn probe(bootstrap: &str, peer: &str, invite: Option<&str>) -> Result<()> {
    let peer: PeerId = peer.parse().context("peer ID")?;
    let nodes: Vec<String> = bootstrap.split(',').map(String::from).collect();
    let dht = Dht::builder().bootstrap(&nodes).build()?.as_async();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        // A stranger knows the peer ID: the node's public key. Look for records under it,
        // bare and with every salt a stranger might guess.
        let mut found = 0;
        for salt in [None, Some(&b"kith"[..]), Some(&b"addrs"[..])] {
            let mut items = dht.get_mutable(peer.as_bytes(), salt, None);
            while let Some(_item) = items.next().await {
                found += 1;
            }
        }
        println!("stranger: {found}");
        if let Some(link) = invite {
            let inv = kith_proto::invite::parse(link, 0).context("invite")?;
            let reach = inv.lookup.context("the invite has no lookup secret")?;
            let client = kith_node::net::dht::DhtClient::start(Some(&nodes), None)?;
            let mut found = None;
            for day in lookup_days(kith_node::clock::now()) {
                found = client.lookup(&RecordKeys::derive(&reach, day), &peer).await;
                if found.is_some() {
                    break;
                }
            }
            match found {
                Some(addrs) => {
                    let a: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
                    println!("friend: {}", a.join(","));
                }
                None => println!("friend: none"),
            }
        }
        Ok(())
    })
}
