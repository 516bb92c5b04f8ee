namespace Broker.Core.Metrics;

/// <summary>
/// Node-wide counters and gauges, published under $SYS and (later) by the management API. Updated with
/// <see cref="Interlocked"/>; reading is racy by design (a snapshot, not a transaction).
/// </summary>
internal sealed class BrokerMetrics
{
    private long _bytesReceived;
    private long _bytesSent;
    private long _packetsReceived;
    private long _packetsSent;
    private long _messagesReceived;
    private long _messagesSent;
    private long _messagesDropped;
    private long _messagesQueueDropped;
    private long _deliveryNotAuthorized;
    private long _publishNotAuthorized;
    private long _slowSubscribers;
    private long _subscribeNotAuthorized;
    private long _messagesRetained;
    private long _publisherPauses;
    private long _refusedBanned;
    private long _publishNotDurable;
    private int _connections;
    private int _connectionsMax;

    public long BytesReceived => Volatile.Read(ref _bytesReceived);
    public long BytesSent => Volatile.Read(ref _bytesSent);
    public long PacketsReceived => Volatile.Read(ref _packetsReceived);
    public long PacketsSent => Volatile.Read(ref _packetsSent);
    public long MessagesReceived => Volatile.Read(ref _messagesReceived);
    public long MessagesSent => Volatile.Read(ref _messagesSent);
    /// <summary>Every dropped message, whatever the reason.</summary>
    public long MessagesDropped => Volatile.Read(ref _messagesDropped);
    /// <summary>Of <see cref="MessagesDropped"/>: those dropped because a session queue was full.</summary>
    public long MessagesQueueDropped => Volatile.Read(ref _messagesQueueDropped);
    /// <summary>Of <see cref="MessagesDropped"/>: messages the authorization rules kept from one subscriber of a subscription granted in part.</summary>
    public long DeliveryNotAuthorized => Volatile.Read(ref _deliveryNotAuthorized);
    /// <summary>Times a connected subscriber was found slow (<c>session.slow_subscriber_timeout</c>).</summary>
    public long SlowSubscribers => Volatile.Read(ref _slowSubscribers);
    /// <summary>PUBLISHes the authorization rules refused (EMQX 4's <c>packets.publish.auth_error</c>).</summary>
    public long PublishNotAuthorized => Volatile.Read(ref _publishNotAuthorized);
    /// <summary>SUBSCRIBE filters the authorization rules refused (EMQX 4's <c>packets.subscribe.auth_error</c>).</summary>
    public long SubscribeNotAuthorized => Volatile.Read(ref _subscribeNotAuthorized);
    /// <summary>Times a publisher's connection paused reading because a subscriber had fallen behind (session.backpressure_timeout).</summary>
    public long PublisherPauses => Volatile.Read(ref _publisherPauses);
    /// <summary>CONNECTs refused because the client id, user name or address is banned (EMQX's <c>client.connect</c> refusals by <c>emqx_banned</c>).</summary>
    public long RefusedBanned => Volatile.Read(ref _refusedBanned);
    /// <summary>QoS 1/2 PUBLISHes refused because the persistence store could not write (disk full).</summary>
    public long PublishNotDurable => Volatile.Read(ref _publishNotDurable);
    public int Connections => Volatile.Read(ref _connections);
    public int ConnectionsMax => Volatile.Read(ref _connectionsMax);

    /// <summary>Retained message count, set by whichever plugin stores retained messages.</summary>
    public long Retained
    {
        get => Volatile.Read(ref _messagesRetained);
        set => Volatile.Write(ref _messagesRetained, value);
    }

    /// <summary>Gauges set by plugins (<c>IBrokerServices.SetGauge</c>) other than <see cref="Retained"/>, for the management API.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, long> Gauges { get; } = new(StringComparer.Ordinal);

    /// <summary>Sets a gauge by name: <c>retained.count</c> is <see cref="Retained"/>; any other goes to <see cref="Gauges"/>.</summary>
    public void SetGauge(string name, long value)
    {
        if (name == "retained.count")
            Retained = value;
        else
            Gauges[name] = value;
    }

    public void BytesIn(long n) => Interlocked.Add(ref _bytesReceived, n);
    public void BytesOut(long n) => Interlocked.Add(ref _bytesSent, n);
    public void PacketIn() => Interlocked.Increment(ref _packetsReceived);
    public void PacketsOut(long n) => Interlocked.Add(ref _packetsSent, n);
    public void MessageIn() => Interlocked.Increment(ref _messagesReceived);
    public void MessagesOut(long n) => Interlocked.Add(ref _messagesSent, n);

    public void Dropped(bool queueFull)
    {
        Interlocked.Increment(ref _messagesDropped);
        if (queueFull)
            Interlocked.Increment(ref _messagesQueueDropped);
    }

    public void DeliveryDenied() => Interlocked.Increment(ref _deliveryNotAuthorized);

    public void SlowSubscriber() => Interlocked.Increment(ref _slowSubscribers);

    public void PublishDenied() => Interlocked.Increment(ref _publishNotAuthorized);

    public void PublishRefusedNotDurable() => Interlocked.Increment(ref _publishNotDurable);

    public void SubscribeDenied() => Interlocked.Increment(ref _subscribeNotAuthorized);

    public void PublisherPaused() => Interlocked.Increment(ref _publisherPauses);

    public void ConnectBanned() => Interlocked.Increment(ref _refusedBanned);

    public void Connected()
    {
        var now = Interlocked.Increment(ref _connections);
        int max;
        while (now > (max = Volatile.Read(ref _connectionsMax)) && Interlocked.CompareExchange(ref _connectionsMax, now, max) != max)
        {
        }
    }

    public void Disconnected() => Interlocked.Decrement(ref _connections);

    /// <summary>
    /// The counters and gauges above as <see cref="System.Diagnostics.Metrics"/> observable instruments on a meter named
    /// <c>Broker</c>, for in-process tools (<c>dotnet-counters monitor -n broker --counters Broker</c>, OpenTelemetry);
    /// read only when a listener asks, nothing on the hot path. The host makes it once and disposes it at shutdown.
    /// </summary>
    public System.Diagnostics.Metrics.Meter CreateMeter()
    {
        var meter = new System.Diagnostics.Metrics.Meter("Broker");
        meter.CreateObservableCounter("broker.bytes.received", () => BytesReceived, "By", "Bytes received from MQTT clients.");
        meter.CreateObservableCounter("broker.bytes.sent", () => BytesSent, "By", "Bytes sent to MQTT clients.");
        meter.CreateObservableCounter("broker.packets.received", () => PacketsReceived, "{packet}", "MQTT packets received.");
        meter.CreateObservableCounter("broker.packets.sent", () => PacketsSent, "{packet}", "MQTT packets sent.");
        meter.CreateObservableCounter("broker.messages.received", () => MessagesReceived, "{message}", "PUBLISH messages received from clients.");
        meter.CreateObservableCounter("broker.messages.sent", () => MessagesSent, "{message}", "PUBLISH messages sent to clients.");
        meter.CreateObservableCounter("broker.messages.dropped", () => MessagesDropped, "{message}", "Messages dropped, whatever the reason.");
        meter.CreateObservableUpDownCounter("broker.connections.count", () => Connections, "{connection}", "Connections open now.");
        return meter;
    }
}
