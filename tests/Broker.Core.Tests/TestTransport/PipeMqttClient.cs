using Broker.Core.Connections;
using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Threading.Channels;
using Broker.Abstractions;
using Broker.Core.Hosting;
using Broker.Core.Sessions;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.TestTransport;

/// <summary>
/// A minimal MQTT client over two in-memory pipes, driving a real <see cref="ClientChannel"/>: packets are encoded
/// with <see cref="MqttPacketWriter"/> and the server's answers decoded with <see cref="MqttPacketReader"/> into a
/// queue that <see cref="ReceiveAsync"/> reads in order.
/// </summary>
/// <remarks>
/// Waits are on packets, never on wall-clock sleeps; the timeouts here only turn a hang into a failure.
/// <see cref="PingAsync"/> is the barrier: the server handles one client's packets in order and queues everything
/// it sends that client on one writer, so once PINGRESP arrives every packet queued before it has arrived too.
/// </remarks>
internal sealed class PipeMqttClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    private readonly Pipe _toServer = new(new PipeOptions(useSynchronizationContext: false));
    // Small thresholds, so a client that stops reading backs the server's writer up quickly (slow consumers).
    private readonly Pipe _toClient = new(new PipeOptions(pauseWriterThreshold: 4096, resumeWriterThreshold: 2048, useSynchronizationContext: false));
    private volatile TaskCompletionSource _reading = CompletedGate();
    private readonly Channel<MqttPacket> _received = System.Threading.Channels.Channel.CreateUnbounded<MqttPacket>();
    private readonly Queue<MqttPacket> _pushedBack = new();
    private readonly Task _readLoop;
    private ushort _nextPacketId;

    public PipeMqttClient(BrokerEngine engine, MqttProtocolVersion version, int port, InboundRateLimiter? limiter = null)
    {
        Version = version;
        Channel = new ClientChannel(engine, new DuplexPipe(_toServer.Reader, _toClient.Writer), new IPEndPoint(IPAddress.Loopback, port), "test", ThreadPoolWriterScheduler.Instance)
        {
            InboundLimiter = limiter,
        };
        Server = Channel.RunAsync();
        _readLoop = Task.Run(ReadLoopAsync);
    }

    public MqttProtocolVersion Version { get; }

    /// <summary>The server side of this connection.</summary>
    public ClientChannel Channel { get; }

    /// <summary>The server's <see cref="ClientChannel.RunAsync"/>: completes once the server has cleaned up.</summary>
    public Task Server { get; }

    /// <summary>The CONNACK of <see cref="ConnectAsync"/>.</summary>
    public MqttConnAckPacket? ConnAck { get; private set; }

    /// <summary>Set when the server sent something the codec refused.</summary>
    public Exception? ReadError { get; private set; }

    public ushort NextPacketId() => _nextPacketId = _nextPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_nextPacketId + 1);

    public async Task SendAsync(MqttPacket packet)
    {
        MqttPacketWriter.Write(_toServer.Writer, packet, Version);
        await _toServer.Writer.FlushAsync();
    }

    public async Task SendRawAsync(byte[] bytes)
    {
        await _toServer.Writer.WriteAsync(bytes);
    }

    /// <summary>The next packet from the server, in order.</summary>
    public async Task<MqttPacket> ReceiveAsync(TimeSpan? timeout = null)
    {
        if (_pushedBack.TryDequeue(out var early))
            return early;
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            return await _received.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no packet from the server within {timeout ?? DefaultTimeout}");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException("the server closed the connection instead of sending a packet", ReadError);
        }
    }

    /// <summary>The next packet, which must be a <typeparamref name="T"/>.</summary>
    public async Task<T> ReceiveAsync<T>(TimeSpan? timeout = null) where T : MqttPacket
    {
        var packet = await ReceiveAsync(timeout);
        return Assert.IsType<T>(packet);
    }

    /// <summary>Sends PINGREQ and returns what arrived before the PINGRESP (see the class remarks).</summary>
    public async Task<List<MqttPacket>> PingAsync()
    {
        await SendAsync(MqttPingReqPacket.Instance);
        var before = new List<MqttPacket>();
        while (true)
        {
            var packet = await ReceiveAsync();
            if (packet is MqttPingRespPacket)
                return before;
            before.Add(packet);
        }
    }

    /// <summary>Asserts nothing is pending from the server: the next packet is the PINGRESP of a PINGREQ.</summary>
    public async Task AssertNothingReceivedAsync()
    {
        var pending = await PingAsync();
        Assert.Empty(pending);
    }

    public async Task<MqttConnAckPacket> ConnectAsync(MqttConnectPacket connect)
    {
        connect.ProtocolVersion = Version;
        await SendAsync(connect);
        ConnAck = await ReceiveAsync<MqttConnAckPacket>();
        if (ConnAck.ReasonCode == MqttReasonCode.Success)
        {
            // The server handles packets one at a time: once this PINGRESP is back the CONNECT has been handled to
            // the end (keep-alive timer armed, client.connected run). What a resumed session sent meanwhile stays
            // queued for the test.
            foreach (var packet in await PingAsync())
                _pushedBack.Enqueue(packet);
        }
        return ConnAck;
    }

    public async Task<MqttSubAckPacket> SubscribeAsync(string filter, MqttQos qos = MqttQos.AtLeastOnce, uint subscriptionId = 0,
        bool noLocal = false, bool retainAsPublished = false)
    {
        var packet = new MqttSubscribePacket
        {
            PacketId = NextPacketId(),
            Subscriptions = [new MqttTopicSubscription(filter, qos, noLocal, retainAsPublished)],
            Properties = subscriptionId == 0 ? null : new MqttProperties { SubscriptionIdentifier = subscriptionId },
        };
        await SendAsync(packet);
        var ack = await ReceiveAsync<MqttSubAckPacket>();
        Assert.Equal(packet.PacketId, ack.PacketId);
        return ack;
    }

    /// <summary>
    /// Publishes and completes the publisher's side of the QoS flow; returns the PUBACK/PUBREC (null at QoS 0).
    /// At QoS 0 a ping follows, so on return the message has been routed either way.
    /// </summary>
    public async Task<MqttAckPacket?> PublishAsync(string topic, string payload = "x", MqttQos qos = MqttQos.AtMostOnce,
        bool retain = false, uint? messageExpiry = null, ushort topicAlias = 0)
    {
        var packet = new MqttPublishPacket
        {
            Topic = topic,
            Payload = System.Text.Encoding.UTF8.GetBytes(payload),
            Qos = qos,
            Retain = retain,
            PacketId = qos == MqttQos.AtMostOnce ? (ushort)0 : NextPacketId(),
            MessageExpiryInterval = messageExpiry,
            TopicAlias = topicAlias,
        };
        await SendAsync(packet);
        switch (qos)
        {
            case MqttQos.AtMostOnce:
                await AssertNothingReceivedAsync();
                return null;
            case MqttQos.AtLeastOnce:
                var puback = await ReceiveAsync<MqttAckPacket>();
                Assert.Equal(MqttPacketType.PubAck, puback.Type);
                Assert.Equal(packet.PacketId, puback.PacketId);
                return puback;
            default:
                var pubrec = await ReceiveAsync<MqttAckPacket>();
                Assert.Equal(MqttPacketType.PubRec, pubrec.Type);
                Assert.Equal(packet.PacketId, pubrec.PacketId);
                if ((byte)pubrec.ReasonCode < 0x80)
                {
                    await SendAsync(new MqttAckPacket(MqttPacketType.PubRel) { PacketId = packet.PacketId });
                    var pubcomp = await ReceiveAsync<MqttAckPacket>();
                    Assert.Equal(MqttPacketType.PubComp, pubcomp.Type);
                }
                return pubrec;
        }
    }

    /// <summary>The next packet must be a PUBLISH.</summary>
    public Task<MqttPublishPacket> ReceivePublishAsync(TimeSpan? timeout = null) => ReceiveAsync<MqttPublishPacket>(timeout);

    public Task AckAsync(MqttPacketType type, ushort packetId) => SendAsync(new MqttAckPacket(type) { PacketId = packetId });

    /// <summary>Sends DISCONNECT and waits for the server to close.</summary>
    public async Task DisconnectAsync(MqttReasonCode reason = MqttReasonCode.NormalDisconnection, MqttProperties? properties = null)
    {
        await SendAsync(new MqttDisconnectPacket { ReasonCode = reason, Properties = properties });
        await WaitClosedAsync();
    }

    /// <summary>Drops the connection without DISCONNECT (the socket went away) and waits for the server to clean up.</summary>
    public async Task AbortAsync()
    {
        await _toServer.Writer.CompleteAsync();
        await WaitClosedAsync();
    }

    /// <summary>Drops the connection without waiting for the server to notice.</summary>
    public ValueTask DropAsync() => _toServer.Writer.CompleteAsync();

    /// <summary>Completes when the server has closed this connection and finished cleaning up after it.</summary>
    public async Task WaitClosedAsync(TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        await _readLoop.WaitAsync(limit);
        await Server.WaitAsync(limit);
    }

    public bool IsClosed => _readLoop.IsCompleted;

    /// <summary>Every packet still queued (after the connection closed).</summary>
    public List<MqttPacket> Drain()
    {
        var list = new List<MqttPacket>(_pushedBack);
        _pushedBack.Clear();
        while (_received.Reader.TryRead(out var packet))
            list.Add(packet);
        return list;
    }

    /// <summary>Stops reading from the server (after the read in progress), as a slow consumer would.</summary>
    public void PauseReading() => _reading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void ResumeReading() => _reading.TrySetResult();

    private static TaskCompletionSource CompletedGate()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }

    private async Task ReadLoopAsync()
    {
        var input = _toClient.Reader;
        try
        {
            while (true)
            {
                await _reading.Task;
                var result = await input.ReadAsync();
                var buffer = result.Buffer;
                try
                {
                    while (MqttPacketReader.TryRead(ref buffer, Version, 0, out var packet))
                        _received.Writer.TryWrite(packet);
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }
                if (result.IsCompleted)
                    break;
            }
        }
        catch (Exception ex)
        {
            ReadError = ex;
        }
        finally
        {
            _received.Writer.TryComplete();
            await input.CompleteAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _toServer.Writer.CompleteAsync();
        try
        {
            await WaitClosedAsync();
        }
        catch (TimeoutException)
        {
            // The test has failed already or will report the hang elsewhere.
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
