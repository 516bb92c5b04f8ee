using Broker.Core.Sessions;
using System.IO.Pipelines;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Protocol;

namespace Broker.Core.Connections;

internal sealed partial class ClientChannel
{
    /// <summary>Flush mid-batch past this many unflushed bytes, so a long batch does not buffer without bound.</summary>
    private const int FlushThreshold = 64 * 1024;

    // Reused by the writer only: encoding a delivery allocates nothing. Created on first use, so an idle
    // connection does not carry them.
    private MqttPublishPacket? _publish;
    private MqttAckPacket[]? _acks;
    private int _pendingQos0;
    private long _pendingQos0Bytes;

    /// <summary>QoS 0 messages queued for the writer and not yet written.</summary>
    public int Qos0Backlog => Volatile.Read(ref _pendingQos0);

    /// <summary>What <see cref="Qos0Backlog"/> holds in bytes (payload and topic), against session.max_qos0_backlog_bytes.</summary>
    public long Qos0BacklogBytes => Volatile.Read(ref _pendingQos0Bytes);

    /// <summary>
    /// Completes once the QoS 0 backlog is at most a quarter of session.max_qos0_backlog (and of
    /// session.max_qos0_backlog_bytes), or the connection has
    /// closed (for publisher back-pressure, <see cref="Session.WaitUntilCaughtUpAsync"/>).
    /// </summary>
    public Task WaitForQos0DrainAsync()
    {
        if (!IsQos0Behind())
            return Task.CompletedTask;
        var rare = Rare;
        var waiting = Volatile.Read(ref rare.Qos0Drained);
        if (waiting is null)
        {
            var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            waiting = Interlocked.CompareExchange(ref rare.Qos0Drained, created, null) ?? created;
        }
        // The writer may have drained between the check and publishing the source: check again.
        if (!IsQos0Behind() || Volatile.Read(ref _closeRequested) != 0)
            SignalQos0Drained(force: true);
        return waiting.Task;
    }

    private bool IsQos0Behind() => IsQos0Over(4);

    /// <summary>Whether the QoS 0 backlog is above 1/<paramref name="fraction"/> of its limit in messages or in bytes.</summary>
    public bool IsQos0Over(int fraction)
    {
        var options = _engine.SessionOptions;
        return Volatile.Read(ref _pendingQos0) > options.MaxQos0Backlog / fraction
            || (options.MaxQos0BacklogBytes > 0 && Volatile.Read(ref _pendingQos0Bytes) > options.MaxQos0BacklogBytes / fraction);
    }

    private void SignalQos0Drained(bool force)
    {
        if (Volatile.Read(ref _rare) is { } rare && Volatile.Read(ref rare.Qos0Drained) is { } waiting && (force || !IsQos0Behind())
            && Interlocked.CompareExchange(ref rare.Qos0Drained, null, waiting) == waiting)
            waiting.TrySetResult();
    }

    /// <summary>
    /// Queues a PUBLISH of <paramref name="message"/> for the writer. QoS 0 is bounded by
    /// <c>session.max_qos0_backlog</c> and <c>session.max_qos0_backlog_bytes</c> (false when full: the caller counts the
    /// drop as queue_full); QoS 1/2 is bounded by the session's in-flight window.
    /// </summary>
    public bool SendPublish(BrokerMessage message, MqttQos qos, ushort packetId, bool retain, bool dup, List<uint>? subscriptionIds)
    {
        if (qos == MqttQos.AtMostOnce)
        {
            // Both counters are this connection's own (no cache line shared between publishers): one more atomic add.
            var options = _engine.SessionOptions;
            var size = Session.SizeOf(message);
            var bytes = Interlocked.Add(ref _pendingQos0Bytes, size);
            if (Interlocked.Increment(ref _pendingQos0) > options.MaxQos0Backlog
                || (options.MaxQos0BacklogBytes > 0 && bytes > options.MaxQos0BacklogBytes))
            {
                ReleaseQos0(size);
                return false;
            }
        }
        if (_outbound.TryWrite(this, _writers, new Outbound(message, qos, packetId, retain, dup, subscriptionIds)))
            return true;
        // Closing: an in-flight message stays in the session and is sent again on the next connection; a QoS 0
        // one is lost with the connection, as it would be in the socket's buffer.
        if (qos == MqttQos.AtMostOnce)
        {
            ReleaseQos0(Session.SizeOf(message));
            _engine.OnDropped(message, "disconnected", false, _client);
        }
        return true;
    }

    private void ReleaseQos0(long size)
    {
        Interlocked.Decrement(ref _pendingQos0);
        Interlocked.Add(ref _pendingQos0Bytes, -size);
    }

    public void SendAck(MqttPacketType type, ushort packetId, MqttReasonCode reasonCode) =>
        _outbound.TryWrite(this, _writers, new Outbound(type, packetId, reasonCode));

    private void Send(MqttPacket packet) => _outbound.TryWrite(this, _writers, new Outbound(packet));

    void IThreadPoolWorkItem.Execute() => _ = DrainAsync();

    /// <summary>
    /// The writer, scheduled by <see cref="OutboundQueue{T}"/> when something is queued while it is not running:
    /// encodes what is queued and flushes once per batch until the queue is empty, then ends. Never throws; when the
    /// transport fails it abandons the queue and closes the connection.
    /// </summary>
    private async Task DrainAsync()
    {
        var output = _transport.Output;
        var metrics = _engine.Metrics;
        try
        {
            do
            {
                long packets = 0, messages = 0, bytes = 0;
                while (_outbound.TryRead(this, out var item))
                {
                    if (!Write(output, in item))
                        continue;
                    packets++;
                    if (item.Kind == OutboundKind.Publish)
                        messages++;
                    if (output.CanGetUnflushedBytes && output.UnflushedBytes >= FlushThreshold)
                    {
                        bytes += output.UnflushedBytes;
                        var partial = await output.FlushAsync().ConfigureAwait(false);
                        if (partial.IsCompleted || partial.IsCanceled)
                        {
                            StopWriting();
                            return;
                        }
                    }
                }
                if (output.CanGetUnflushedBytes)
                    bytes += output.UnflushedBytes;
                var flush = await output.FlushAsync().ConfigureAwait(false);
                SignalQos0Drained(force: false);
                metrics.PacketsOut(packets);
                metrics.MessagesOut(messages);
                metrics.BytesOut(bytes);
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    StopWriting();
                    return;
                }
            }
            while (!_outbound.TryEndDrain(this));
        }
        catch (Exception ex)
        {
            if (ex is not (IOException or OperationCanceledException or InvalidOperationException
                or Microsoft.AspNetCore.Connections.ConnectionResetException or Microsoft.AspNetCore.Connections.ConnectionAbortedException))
                if (ShouldLog(UnexpectedEvent, nameof(LogUnexpected), _client?.ClientId))
                    LogUnexpected(Logger, ex, _client?.ClientId);
            // Otherwise the peer is gone; the read side notices too.
            StopWriting();
        }
    }

    private void StopWriting()
    {
        _outbound.Abandon(this);
        RequestClose(CloseReason, CloseWhy, sendDisconnect: false);
        SignalQos0Drained(force: true);
    }

    /// <summary>Encodes one queued item. False when it was discarded instead (expired, too large for the client).</summary>
    private bool Write(PipeWriter output, in Outbound item)
    {
        switch (item.Kind)
        {
            case OutboundKind.Packet:
                MqttPacketWriter.Write(output, item.Packet!, _version);
                return true;
            case OutboundKind.Ack:
                _acks ??= [new(MqttPacketType.PubAck), new(MqttPacketType.PubRec), new(MqttPacketType.PubRel), new(MqttPacketType.PubComp)];
                var ack = _acks[item.AckType - MqttPacketType.PubAck];
                ack.PacketId = item.PacketId;
                ack.ReasonCode = item.ReasonCode;
                MqttPacketWriter.Write(output, ack, _version);
                return true;
            default:
                return WritePublish(output, in item);
        }
    }

    private bool WritePublish(PipeWriter output, in Outbound item)
    {
        var message = item.Message!;
        if (item.Qos == MqttQos.AtMostOnce)
            ReleaseQos0(Session.SizeOf(message));
        var v5 = _version == MqttProtocolVersion.V500;
        uint? expiry = null;
        if (message.MessageExpiryInterval is not null)
        {
            // Forward the lifetime left [MQTT-3.3.2-6]; an expired message is not sent [MQTT-3.3.2-5].
            expiry = message.RemainingExpiryInterval(_engine.Now);
            if (expiry == 0)
            {
                Discard(message, item, "expired");
                return false;
            }
        }
        var packet = _publish ??= new MqttPublishPacket();
        packet.Topic = message.Topic;
        packet.Payload = message.Payload;
        packet.Qos = item.Qos;
        packet.Retain = item.Retain;
        packet.Dup = item.Dup;
        packet.PacketId = item.PacketId;
        packet.TopicAlias = 0;
        packet.MessageExpiryInterval = v5 ? expiry : null;
        packet.SubscriptionIdentifiers = v5 ? item.SubscriptionIds : null;
        packet.Properties = v5 ? message.Properties : null;

        if (v5 && _rare is { } rare)
        {
            if (rare.ClientMaximumPacketSize != 0 && MqttPacketWriter.GetSize(packet, _version) > rare.ClientMaximumPacketSize)
            {
                // Never send more than the client's Maximum Packet Size: discard, as if delivered [MQTT-3.1.2-25].
                Discard(message, item, "too_large");
                return false;
            }
            if (rare.ClientTopicAliasMaximum != 0)
                ApplyOutboundAlias(packet, rare);
        }

        MqttPacketWriter.Write(output, packet, _version);
        packet.Payload = default;
        packet.Properties = null;
        if (!_engine.Hooks.MessageDelivered.IsEmpty)
            _ = _engine.Hooks.MessageDelivered.RunAsync(new MessageDeliveryContext { Client = _client, Message = message });
        return true;
    }

    /// <summary>
    /// The first <c>Topic Alias Maximum</c> distinct topics get an alias, sent once with the topic and then
    /// alone with an empty topic (3.3.2.3.4).
    /// </summary>
    private static void ApplyOutboundAlias(MqttPublishPacket packet, RareState rare)
    {
        var aliases = rare.OutboundAliases ??= new Dictionary<string, ushort>(StringComparer.Ordinal);
        if (aliases.TryGetValue(packet.Topic, out var alias))
        {
            packet.TopicAlias = alias;
            packet.Topic = "";
        }
        else if (aliases.Count < rare.ClientTopicAliasMaximum)
        {
            alias = (ushort)(aliases.Count + 1);
            aliases.Add(packet.Topic, alias);
            packet.TopicAlias = alias;
        }
    }

    private void Discard(BrokerMessage message, in Outbound item, string reason)
    {
        if (item.Qos != MqttQos.AtMostOnce)
            _session?.Discard(item.PacketId);
        _engine.OnDropped(message, reason, false, _client);
    }

    private enum OutboundKind : byte
    {
        Packet,
        Ack,
        Publish,
    }

    /// <summary>One thing for the writer to send; a struct, so queueing a delivery allocates nothing.</summary>
    private readonly struct Outbound
    {
        public Outbound(MqttPacket packet)
        {
            Kind = OutboundKind.Packet;
            Packet = packet;
        }

        public Outbound(MqttPacketType ackType, ushort packetId, MqttReasonCode reasonCode)
        {
            Kind = OutboundKind.Ack;
            AckType = ackType;
            PacketId = packetId;
            ReasonCode = reasonCode;
        }

        public Outbound(BrokerMessage message, MqttQos qos, ushort packetId, bool retain, bool dup, List<uint>? subscriptionIds)
        {
            Kind = OutboundKind.Publish;
            Message = message;
            Qos = qos;
            PacketId = packetId;
            Retain = retain;
            Dup = dup;
            SubscriptionIds = subscriptionIds;
        }

        public OutboundKind Kind { get; }
        public MqttPacket? Packet { get; }
        public BrokerMessage? Message { get; }
        public List<uint>? SubscriptionIds { get; }
        public ushort PacketId { get; }
        public MqttQos Qos { get; }
        public MqttPacketType AckType { get; }
        public MqttReasonCode ReasonCode { get; }
        public bool Retain { get; }
        public bool Dup { get; }
    }
}
