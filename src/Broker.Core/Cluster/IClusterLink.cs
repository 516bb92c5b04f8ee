using Broker.Abstractions;
using Broker.Core.Routing;
using Broker.Core.Sessions;

namespace Broker.Core.Cluster;

/// <summary>
/// The core's one port to the cluster (Broker.Cluster implements it and attaches it through
/// <see cref="Hosting.IClusterPort.Attach"/>; none is attached when <c>cluster.enable = off</c>, so a single node pays
/// one null check per publish and per route change). The core tells it when this node's route table changes and hands
/// it each message published here; the cluster hands messages from other nodes back through
/// <see cref="Hosting.IClusterPort.DeliverForwardedAsync"/>, which never forwards again.
/// </summary>
public interface IClusterLink : IRouteObserver
{
    /// <summary>
    /// A message published on this node (after <c>message.publish</c>): sends it once to each other node with an
    /// ordinary route that matches its topic, and, for each matching share group that has no member here, to one node
    /// with members of that group. Must not block: it queues and returns.
    /// </summary>
    /// <param name="message">The message.</param>
    /// <param name="local">This node's own deliveries of it: a share group served here is served by no other node.</param>
    /// <returns>The nodes it was sent to, and what the publisher's connection waits for (see <see cref="ForwardOutcome"/>).</returns>
    ForwardOutcome Forward(BrokerMessage message, LocalDeliveries local);

    /// <summary>
    /// A CONNECT of <paramref name="clientId"/> on this node, accepted by authentication: makes this node the client id's
    /// one owner in the cluster before the CONNACK. The node that owned it closes its connection (DISCONNECT 0x8E) and
    /// hands over the session's state (<see cref="Hosting.IClusterPort.ReleaseClientAsync"/>), unless
    /// <paramref name="discard"/> (clean start): then it drops it. Called by the session room with the client id's
    /// connect lock held; a single node (no link) never calls it.
    /// </summary>
    ValueTask<ClientClaim> ClaimClientAsync(string clientId, bool discard);

    /// <summary>
    /// The session of <paramref name="clientId"/> here, one that outlives its connection (expiry &gt; 0), was created,
    /// resumed, subscribed or unsubscribed, or went offline; or such a session ended here or no longer outlives its
    /// connection. The cluster keeps a copy of its record (<see cref="Hosting.IClusterPort.SessionCopy"/>: subscriptions
    /// and expiry, not its messages) so that another node can resume it if this node dies. Called under the session's
    /// lock: must not block (it notes the id and returns).
    /// </summary>
    void SessionChanged(string clientId);

    /// <summary>
    /// Completes once this node has the cluster's banned list (its first read of it since it started or joined), or has
    /// stopped waiting for it (<c>cluster.node_timeout</c> after it started or joined: it then goes on with its own
    /// list). A CONNECT waits for it before its ban check, so that a ban made on another node refuses the client from
    /// its first CONNECT here. Never faults.
    /// </summary>
    Task BansRead { get; }
}

/// <summary>What <see cref="IClusterLink.Forward"/> did with a message.</summary>
/// <param name="Nodes">The number of other nodes it was queued for.</param>
/// <param name="Acknowledged">
/// For a QoS 1/2 message queued for other nodes: completes (never faults) once every one of them has acknowledged it
/// (it is in their sessions), or the cluster stopped waiting for one (found down, or silent past cluster.node_timeout).
/// The publisher's PUBACK/PUBREC waits for it (end-to-end QoS). Null for QoS 0 or no node.
/// </param>
/// <param name="Behind">
/// Non-null when a node it was queued for has more unacknowledged forwards than its high mark: the publisher's
/// connection reads nothing more until it completes (back-pressure, as for a slow local subscriber). Never faults.
/// </param>
public readonly record struct ForwardOutcome(int Nodes, Task? Acknowledged = null, Task? Behind = null);

/// <summary>The outcome of <see cref="IClusterLink.ClaimClientAsync"/>.</summary>
/// <param name="Refused">The client id could not be made this node's (another node kept winning it): refuse the CONNECT.</param>
/// <param name="Session">The session state the previous owner handed over (the core's own handover form); null: none.</param>
/// <param name="Copy">
/// <paramref name="Session"/> is the cluster's copy of the session's record (subscriptions and expiry, no messages),
/// because its owner died: used only when this node has no session of the client id.
/// </param>
public readonly record struct ClientClaim(bool Refused, byte[]? Session, bool Copy = false);

/// <summary>This node's deliveries of one message, as the cluster may ask about them during <see cref="IClusterLink.Forward"/>.</summary>
public readonly struct LocalDeliveries
{
    private readonly List<RouteMatch<Session>> _matches;

    internal LocalDeliveries(List<RouteMatch<Session>> matches) => _matches = matches;

    /// <summary>Whether this node chose a member of share group <paramref name="group"/> on <paramref name="filter"/>.</summary>
    public bool ServesShareGroup(string group, string filter)
    {
        // Share groups come last in a match: stop at the first ordinary delivery, however many there are.
        for (var i = _matches.Count - 1; i >= 0; i--)
        {
            if (_matches[i].Group is not { } local)
                break;
            if (string.Equals(local.Name, group, StringComparison.Ordinal) && string.Equals(local.Filter, filter, StringComparison.Ordinal))
                return true;
        }
        return false;
    }
}
