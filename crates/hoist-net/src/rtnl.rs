//! A container's veth pairs, addresses and route, asked of the kernel over rtnetlink from this
//! process (netlink-packet-route's messages on a netlink-sys socket): a handful of messages
//! where each `ip` process costs milliseconds, which every `run` on a network would pay.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::{Attachment, Error, Result};

/// A route netlink socket of the network namespace the calling thread is in.
struct Rtnl {
    socket: Socket,
    sequence: u32,
}

impl Rtnl {
    fn open() -> Result<Rtnl> {
        let failed = |e| Error::Netlink {
            what: "opening a route netlink socket".into(),
            source: e,
        };
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(failed)?;
        socket.bind_auto().map_err(failed)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(failed)?;
        Ok(Rtnl {
            socket,
            sequence: 0,
        })
    }

    /// Sends one request and waits for the kernel's answer to it.
    fn ask(
        &mut self,
        what: impl Fn() -> String,
        message: RouteNetlinkMessage,
        create: bool,
    ) -> Result<()> {
        let failed = |source| Error::Netlink {
            what: what(),
            source,
        };
        self.sequence += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK;
        if create {
            header.flags |= NLM_F_CREATE | NLM_F_EXCL;
        }
        header.sequence_number = self.sequence;
        let mut request = NetlinkMessage::new(header, NetlinkPayload::from(message));
        request.finalize();
        let mut buffer = vec![0; request.buffer_len()];
        request.serialize(&mut buffer);
        self.socket.send(&buffer, 0).map_err(failed)?;
        let mut answer = vec![0; 8192];
        loop {
            let length = match self.socket.recv(&mut &mut answer[..], 0) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                received => received.map_err(failed)?,
            };
            // nlmsghdr's sequence number: an answer to another request is not parsed at all.
            let sequence = answer
                .get(8..12)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_ne_bytes);
            if sequence != Some(self.sequence) {
                continue;
            }
            let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&answer[..length])
                .map_err(|e| failed(std::io::Error::other(e.to_string())))?;
            return match reply.payload {
                NetlinkPayload::Error(error) => match error.code {
                    None => Ok(()),
                    Some(code) => Err(failed(std::io::Error::from_raw_os_error(-code.get()))),
                },
                _ => Ok(()),
            };
        }
    }

    fn set_up(&mut self, index: u32, name: &str) -> Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        self.ask(
            || format!("setting {name} up"),
            RouteNetlinkMessage::SetLink(link),
            false,
        )
    }
}

/// One veth pair per attachment from its bridge (`bridge_index`) into the network namespace
/// `netns`, up, with its address inside, `lo` up, and the default route through `routed`'s
/// gateway.
pub(crate) fn plug(
    netns: &OwnedFd,
    plan: &[(u32, &Attachment)],
    routed: Option<usize>,
) -> Result<()> {
    let mut host = Rtnl::open()?;
    for (bridge_index, attachment) in plan {
        let mut peer = LinkMessage::default();
        peer.attributes = vec![
            LinkAttribute::IfName(attachment.interface.clone()),
            LinkAttribute::NetNsFd(netns.as_raw_fd()),
        ];
        let mut veth = LinkMessage::default();
        veth.header.flags = LinkFlags::Up;
        veth.header.change_mask = LinkFlags::Up;
        veth.attributes = vec![
            LinkAttribute::IfName(attachment.host_veth.clone()),
            LinkAttribute::Controller(*bridge_index),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
            ]),
        ];
        let what = || format!("making the veth pair {}", attachment.host_veth);
        host.ask(what, RouteNetlinkMessage::NewLink(veth), true)?;
    }
    // A socket is of the namespace its thread was in when it was made: a thread of its own,
    // moved into the container's namespace, makes the one for the inside.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                nix::sched::setns(netns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(
                    |e| Error::Netlink {
                        what: "entering the container's network namespace".into(),
                        source: e.into(),
                    },
                )?;
                configure_inside(plan, routed)
            })
            .join()
            .expect("configuring the namespace does not panic")
    })
}

/// In the container's namespace: `lo` up; each interface's address, the interface up; the
/// default route.
fn configure_inside(plan: &[(u32, &Attachment)], routed: Option<usize>) -> Result<()> {
    let mut inside = Rtnl::open()?;
    inside.set_up(index_of("lo")?, "lo")?;
    for (position, (_, attachment)) in plan.iter().enumerate() {
        let interface = &attachment.interface;
        let index = index_of(interface)?;
        let mut address = AddressMessage::default();
        address.header.family = AddressFamily::Inet;
        address.header.prefix_len = attachment.prefix;
        address.header.index = index;
        let ip = IpAddr::V4(attachment.address);
        address.attributes = vec![AddressAttribute::Local(ip), AddressAttribute::Address(ip)];
        let what = || format!("giving {interface} the address {}", attachment.address);
        inside.ask(what, RouteNetlinkMessage::NewAddress(address), true)?;
        inside.set_up(index, interface)?;
        if routed == Some(position) {
            inside.ask(
                || format!("routing through {}", attachment.gateway),
                RouteNetlinkMessage::NewRoute(default_route(attachment.gateway)),
                true,
            )?;
        }
    }
    Ok(())
}

fn default_route(gateway: Ipv4Addr) -> RouteMessage {
    let mut route = RouteMessage::default();
    route.header.address_family = AddressFamily::Inet;
    route.header.table = RouteHeader::RT_TABLE_MAIN;
    route.header.protocol = RouteProtocol::Boot;
    route.header.scope = RouteScope::Universe;
    route.header.kind = RouteType::Unicast;
    route.attributes = vec![RouteAttribute::Gateway(RouteAddress::Inet(gateway))];
    route
}

/// The index of this thread's namespace's link `name`.
pub(crate) fn index_of(name: &str) -> Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(|e| Error::Netlink {
        what: format!("finding the link {name}"),
        source: e.into(),
    })
}
