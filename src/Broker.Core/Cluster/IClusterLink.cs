using Broker.Abstractions;
using Broker.Core.Routing;
using Broker.Core.Sessions;

namespace Broker.Core.Cluster;

/// <summary>
/// The core's one port to the cluster (Broker.Cluster implements it; null when <c>cluster.enable = off</c>, so a
/// single node pays one null check per publish and per route change). The core tells it when this node's route table
/// changes and hands it each message published here; the cluster hands messages from other nodes back through
/// <see cref="BrokerEngine.DeliverForwardedAsync"/>, which never forwards again.
/// </summary>
internal interface IClusterLink : IRouteObserver
{
    /// <summary>
    /// A message published on this node (after <c>message.publish</c>): sends it once to each other node with an
    /// ordinary route that matches its topic, and, for each matching share group that has no member here, to one node
    /// with members of that group. Must not block: it queues and returns.
    /// </summary>
    /// <param name="message">The message.</param>
    /// <param name="localMatches">
    /// This node's own deliveries of it as <see cref="Router{TSubscriber}.Match(string, string?, List{RouteMatch{TSubscriber}})"/>
    /// found them (share groups last): a share group served here is served by no other node.
    /// </param>
    /// <returns>The number of nodes it was sent to.</returns>
    int Forward(BrokerMessage message, List<RouteMatch<Session>> localMatches);
}
