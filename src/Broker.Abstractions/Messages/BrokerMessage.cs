namespace Broker.Abstractions;

/// <summary>
/// One application message as the broker routes it: created once per PUBLISH and shared, unchanged, by every
/// subscriber it is delivered to. Immutable: a plugin that changes a message (topic rewrite, say) makes a copy
/// with <c>with { Topic = ... }</c> and hands the copy on through the hook's context.
/// </summary>
public sealed record BrokerMessage
{
    /// <summary>The topic name (never empty, never a wildcard).</summary>
    public required string Topic { get; init; }

    /// <summary>The payload. Never mutate the memory behind it: it is shared by every delivery.</summary>
    public ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>The QoS it was published with; each delivery is sent at min(this, granted QoS).</summary>
    public MqttQos Qos { get; init; }

    /// <summary>The RETAIN flag as published.</summary>
    public bool Retain { get; init; }

    /// <summary>
    /// The MQTT 5 properties forwarded unchanged (payload format, content type, response topic, correlation data,
    /// user properties); null when there are none. Immutable like the message (since SDK 2.0).
    /// </summary>
    public MessageProperties? Properties { get; init; }

    /// <summary>
    /// MQTT 5 Message Expiry Interval in seconds as published; null = never expires. The broker forwards the
    /// remaining lifetime and drops the message once it has expired while queued.
    /// </summary>
    public uint? MessageExpiryInterval { get; init; }

    /// <summary>Client id of the publisher; null for messages made by the broker or a plugin.</summary>
    public string? PublisherId { get; init; }

    /// <summary>The user name the publisher logged in with; null for none, and for messages made by the broker or a plugin. Since SDK 1.5.</summary>
    public string? PublisherUsername { get; init; }

    /// <summary>The publisher's IP address (EMQX's <c>peerhost</c>); null for messages made by the broker or a plugin. Since SDK 1.5.</summary>
    public string? PublisherAddress { get; init; }

    /// <summary>
    /// <c>node.name</c> of the broker that accepted the message (for bridges and the cluster: where it came from);
    /// null for a message no broker has published yet (a plugin's, before <see cref="Plugins.IBrokerServices.PublishAsync"/>
    /// sets it). Since SDK 1.5.
    /// </summary>
    public string? OriginNode { get; init; }

    /// <summary>
    /// A unique, time-ordered id (32 hex digits, as EMQX's hex message ids: the timestamp's milliseconds, then a number
    /// drawn once per process, then a per-process sequence), made the first time it is read, so messages nobody asks
    /// about cost nothing; copies made with <c>with</c> after that keep it, and <see cref="BrokerMessageCodec"/> keeps it
    /// on disk. Set it only to carry an id over (a bridge, a store). Since SDK 1.5.
    /// </summary>
    public string Id
    {
        get
        {
            if (Volatile.Read(ref _id) is { } id)
                return id;
            Interlocked.CompareExchange(ref _id, MessageIds.Next(Timestamp == default ? DateTimeOffset.UtcNow : Timestamp), null);
            return _id!;
        }
        init => _id = value;
    }

    private string? _id;

    /// <summary>When the broker accepted the message.</summary>
    public DateTimeOffset Timestamp { get; init; }

    /// <summary>True for $SYS and other broker-originated messages.</summary>
    public bool IsSystem { get; init; }

    /// <summary>Whether the message has expired at <paramref name="now"/>.</summary>
    /// <param name="now">The current time, from the broker's <see cref="TimeProvider"/>.</param>
    public bool IsExpired(DateTimeOffset now) =>
        MessageExpiryInterval is { } seconds && now - Timestamp >= TimeSpan.FromSeconds(seconds);

    /// <summary>The lifetime left at <paramref name="now"/>, in whole seconds, as forwarded to subscribers.</summary>
    /// <param name="now">The current time, from the broker's <see cref="TimeProvider"/>.</param>
    public uint? RemainingExpiryInterval(DateTimeOffset now)
    {
        if (MessageExpiryInterval is not { } seconds)
            return null;
        var elapsed = (long)(now - Timestamp).TotalSeconds;
        return elapsed >= seconds ? 0u : (uint)(seconds - elapsed);
    }
}
