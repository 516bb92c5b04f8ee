namespace Broker.Core.Routing;

/// <summary>How one member of a share group is chosen for each message (EMQX <c>shared_subscription_strategy</c>).</summary>
internal enum SharedSubscriptionStrategy
{
    /// <summary>Uniformly at random.</summary>
    Random,

    /// <summary>Each member in turn, per group.</summary>
    RoundRobin,

    /// <summary>The same member until it leaves the group or disconnects, then a random new one.</summary>
    Sticky,

    /// <summary>A hash of the publisher's client id, so one publisher's messages go to one member.</summary>
    HashClientId,

    /// <summary>A hash of the topic, so one topic's messages go to one member.</summary>
    HashTopic,
}
