using Broker.Abstractions;
using Broker.Core.Routing;

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
    /// A message published on this node (after <c>message.publish</c>): sends it once to each other node with a route
    /// that matches its topic. Must not block: it queues and returns.
    /// </summary>
    /// <returns>The number of nodes it was sent to.</returns>
    int Forward(BrokerMessage message);
}
