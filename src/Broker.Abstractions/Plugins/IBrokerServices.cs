using Broker.Abstractions.Hooks;

namespace Broker.Abstractions.Plugins;

/// <summary>
/// The broker operations a plugin may call. Every member is safe to call from any thread, including from inside a
/// hook callback, but a callback that waits for <see cref="PublishAsync"/> runs <c>message.publish</c> again: guard
/// against recursion.
/// </summary>
public interface IBrokerServices
{
    /// <summary>This node's name (<c>node.name</c>).</summary>
    string NodeName { get; }

    /// <summary>
    /// Publishes <paramref name="message"/> as the broker does its own messages: runs <c>message.publish</c>, then routes it.
    /// No authorization is applied. <see cref="BrokerMessage.Timestamp"/> is set to now when left at its default.
    /// </summary>
    /// <param name="message">The message; <see cref="BrokerMessage.PublisherId"/> is usually null for plugin messages.</param>
    /// <param name="cancellationToken">Cancels waiting for slow <c>message.publish</c> callbacks.</param>
    /// <returns>The number of sessions it was delivered to; -1 when a <c>message.publish</c> callback kept it from being routed.</returns>
    ValueTask<int> PublishAsync(BrokerMessage message, CancellationToken cancellationToken = default);

    /// <summary>
    /// Subscribes an existing session (connected or not) to <paramref name="topicFilter"/>, as if its client had sent
    /// SUBSCRIBE: the subscription replaces one with the same filter and <c>session.subscribed</c> runs (so a
    /// retainer sends retained messages). No <c>client.subscribe</c>/<c>client.authorize</c> hooks run.
    /// </summary>
    /// <param name="clientId">The session's client id.</param>
    /// <param name="topicFilter">A valid filter, optionally <c>$share/group/...</c>.</param>
    /// <param name="options">The subscription options (QoS is capped by <c>mqtt.max_qos_allowed</c>).</param>
    /// <returns>False when there is no such session or the filter is invalid.</returns>
    bool Subscribe(string clientId, string topicFilter, SubscriptionOptions options);

    /// <summary>Removes a session's subscription, as an UNSUBSCRIBE would; runs <c>session.unsubscribed</c>.</summary>
    /// <param name="clientId">The session's client id.</param>
    /// <param name="topicFilter">The filter exactly as subscribed.</param>
    /// <returns>False when there is no such session or subscription.</returns>
    bool Unsubscribe(string clientId, string topicFilter);

    /// <summary>The connected client with this id, or null.</summary>
    /// <param name="clientId">The client id.</param>
    ClientInfo? FindClient(string clientId);

    /// <summary>A snapshot of every connected client. Allocates a list: not for hot paths.</summary>
    IReadOnlyList<ClientInfo> ListClients();

    /// <summary>A snapshot of the subscriptions of one session, or of every session when <paramref name="clientId"/> is null.</summary>
    /// <param name="clientId">A client id, or null for all.</param>
    IReadOnlyList<SubscriptionInfo> ListSubscriptions(string? clientId = null);

    /// <summary>
    /// Disconnects a client (MQTT 5: DISCONNECT 0x98 Administrative Action first). Its will is published and its
    /// session lives on according to its expiry interval.
    /// </summary>
    /// <param name="clientId">The client id.</param>
    /// <returns>True once the connection is closed; false when no such client is connected.</returns>
    Task<bool> KickAsync(string clientId);

    /// <summary>
    /// Sets a node-wide gauge. <c>retained.count</c> is published as <c>$SYS/.../stats/retained/count</c>; other names
    /// are kept for the management API. Cheap: call it whenever the value changes.
    /// </summary>
    /// <param name="name">Dotted lower-case name, e.g. <c>retained.count</c>.</param>
    /// <param name="value">The current value.</param>
    void SetGauge(string name, long value);

    /// <summary>
    /// Tells the broker that this plugin's authorization rules changed (e.g. reloaded from a backend): every
    /// subscription's decision is taken again, and messages are checked one by one until it has been
    /// (<see cref="Hooks.ClientAuthorizeContext"/>). Registering or removing a <c>client.authorize</c> callback
    /// does this by itself. (The default implementation, for test doubles, does nothing.)
    /// </summary>
    void InvalidateAuthorization()
    {
    }

    /// <summary>
    /// Forgets the publish and subscribe decisions the broker cached for one connection (<c>acl_cache_*</c>), so its next
    /// PUBLISH and SUBSCRIBE ask <c>client.authorize</c> again: for a plugin whose answer for that client changes at a
    /// known moment, e.g. when its token expires. Subscriptions already granted keep their decision. Since SDK 2.1; the
    /// default implementation, for test doubles, does nothing.
    /// </summary>
    /// <param name="client">The connection's client (<see cref="Hooks.HookContext.Client"/>).</param>
    void InvalidateAuthorization(ClientInfo client)
    {
    }
}

/// <summary>One subscription of one session.</summary>
/// <param name="ClientId">The session's client id.</param>
/// <param name="TopicFilter">The filter as subscribed, including any <c>$share/group/</c> prefix.</param>
/// <param name="Options">The options granted.</param>
public sealed record SubscriptionInfo(string ClientId, string TopicFilter, SubscriptionOptions Options);
