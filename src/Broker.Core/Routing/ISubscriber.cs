namespace Broker.Core.Routing;

/// <summary>
/// What the router needs to know about a subscriber (a session). The router keys subscriptions by the object's
/// reference, not by <see cref="ClientId"/>: a session object is the identity of a subscriber.
/// </summary>
internal interface ISubscriber
{
    /// <summary>The client identifier, compared with the publisher's for the MQTT 5 No Local option.</summary>
    string ClientId { get; }

    /// <summary>Whether the client is connected now; share groups prefer connected members.</summary>
    bool IsConnected { get; }
}
