using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Authentication;
using Broker.Protocol;

namespace Broker.Bench.Client;

/// <summary>
/// One MQTT client of a run: a plain <see cref="Socket"/>, one receive loop, and a send buffer shared under an async
/// lock by whoever writes (the publish loop, the receive loop's acks, the pinger).
/// </summary>
/// <remarks>
/// <para>Publishing encodes a batch of PUBLISH packets into the send buffer and writes it with one
/// <see cref="Socket.SendAsync(ReadOnlyMemory{byte}, SocketFlags, CancellationToken)"/>; nothing is allocated per
/// message. For QoS 1 and 2 an in-flight window (a semaphore of <c>window</c> permits, capped by an MQTT 5 broker's
/// Receive Maximum) bounds the unacknowledged messages: a permit is taken per PUBLISH and returned on PUBACK or
/// PUBCOMP; PUBREC is answered with PUBREL from the receive loop.</para>
/// <para>As a receiver it answers QoS 1 with PUBACK, QoS 2 with PUBREC and PUBREL with PUBCOMP; the acks of one
/// received chunk are written together. An ack is never longer than the packet it answers, so the ack buffer
/// never needs to be larger than the receive buffer.</para>
/// </remarks>
internal sealed class BenchConnection : IAsyncDisposable
{
    private const int MaxWindow = 65_535;

    private readonly MqttProtocolVersion _version;
    private readonly bool _v5;
    private readonly IDeliverySink? _sink;
    private readonly Socket _socket;
    private Stream? _stream;        // TLS or the WebSocket's stream; null: MQTT on the socket itself
    private WebSocket? _webSocket;
    private readonly IPAddress? _localAddress;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Lock _idLock = new();
    private byte[] _receiveBuffer;
    private byte[] _ackBuffer;
    private byte[] _sendBuffer;
    private Task _receiveLoop = Task.CompletedTask;
    private TaskCompletionSource<MqttPacket>? _pendingReply;
    private volatile bool _closing;
    private volatile string? _failure;
    private ushort _subscribeId;

    // Publisher state (ConfigurePublisher).
    private byte[] _topic = [];
    private int _qos;
    private int _packetSize;
    private int _remaining;
    private int _payloadSize;
    private uint _magic;
    private int _publisherIndex;
    private int _window = MaxWindow;
    private SemaphoreSlim? _inflight;
    private bool[]? _idInUse;
    private int _nextId;
    private long _nextSequence;
    private long _sent;
    private long _completed;
    private long _rejected;
    private long _protocolErrors;

    /// <param name="bufferSize">Receive (and ack) buffer; grown when one packet needs more. Publishers get a 64 KB
    /// send buffer from <see cref="ConfigurePublisher"/>.</param>
    /// <param name="localAddress">Address to connect from (--ifaddr); null lets the kernel choose.</param>
    public BenchConnection(string clientId, MqttProtocolVersion version, int bufferSize, IDeliverySink? sink = null, IPAddress? localAddress = null)
    {
        ClientId = clientId;
        _localAddress = localAddress;
        _version = version;
        _v5 = version == MqttProtocolVersion.V500;
        _sink = sink;
        _receiveBuffer = new byte[bufferSize];
        _ackBuffer = new byte[bufferSize];
        _sendBuffer = [];
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
    }

    public string ClientId { get; }

    /// <summary>TCP (the default), TLS, WebSocket or WebSocket over TLS (--transport).</summary>
    public BenchTransport Transport { get; init; } = BenchTransport.Tcp;

    /// <summary>Largest packet the broker accepts: its MQTT 5 Maximum Packet Size, else the protocol's limit.</summary>
    public uint MaximumPacketSize { get; private set; } = 268_435_460;

    /// <summary>Why the connection ended before <see cref="DisconnectAsync"/>; null while it is fine.</summary>
    public string? Failure => _failure;

    /// <summary>Sequence number the next PUBLISH gets = messages encoded so far.</summary>
    public long NextSequence => Volatile.Read(ref _nextSequence);

    /// <summary>PUBLISH packets written to the socket.</summary>
    public long Sent => Volatile.Read(ref _sent);

    /// <summary>QoS 1/2 PUBLISH packets whose handshake completed (PUBACK / PUBCOMP).</summary>
    public long Completed => Volatile.Read(ref _completed);

    /// <summary>PUBACK / PUBREC with a failure reason code (MQTT 5: not authorized, quota exceeded, ...).</summary>
    public long Rejected => Volatile.Read(ref _rejected);

    /// <summary>Acks for packet ids not in flight, unexpected packets.</summary>
    public long ProtocolErrors => Volatile.Read(ref _protocolErrors);

    /// <summary>Unacknowledged QoS 1/2 messages.</summary>
    public int Inflight => _inflight is null ? 0 : _window - _inflight.CurrentCount;

    /// <summary>How many messages one <see cref="PublishBatchAsync"/> can carry.</summary>
    public int BatchCapacity => Math.Max(1, _sendBuffer.Length / Math.Max(1, _packetSize));

    /// <summary>
    /// Connects, sends CONNECT and waits for a successful CONNACK; throws <see cref="BenchException"/> otherwise.
    /// <paramref name="persistentSession"/>: clean session 0 (3.1.1) / clean start 0 with a 300 s session expiry
    /// (5.0), so a persisting broker keeps this session's subscriptions and messages.
    /// </summary>
    public async Task ConnectAsync(EndPoint endpoint, ushort keepAlive, string? username, string? password,
        TimeSpan timeout, CancellationToken cancellationToken, bool persistentSession = false)
    {
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            if (_localAddress is not null)
                _socket.Bind(new IPEndPoint(_localAddress, 0));
            await _socket.ConnectAsync(endpoint, timeoutSource.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BenchException($"TCP connect to {endpoint} timed out after {timeout.TotalSeconds:0.#}s");
        }
        catch (SocketException ex)
        {
            throw new BenchException(_localAddress is null
                ? $"TCP connect to {endpoint}: {ex.SocketErrorCode}"
                : $"TCP connect from {_localAddress} to {endpoint}: {ex.SocketErrorCode}");
        }
        try
        {
            (_stream, _webSocket) = await Transport.OpenAsync(_socket, timeoutSource.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BenchException($"{Transport.Kind} handshake with {endpoint} timed out after {timeout.TotalSeconds:0.#}s");
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException or WebSocketException)
        {
            throw new BenchException($"{Transport.Kind} handshake with {endpoint}: {ex.Message}");
        }
        _receiveLoop = ReceiveLoopAsync();
        var connect = new MqttConnectPacket
        {
            ProtocolVersion = _version,
            ClientId = ClientId,
            CleanSession = !persistentSession,
            KeepAlive = keepAlive,
            Properties = persistentSession && _version == MqttProtocolVersion.V500 ? new() { SessionExpiryInterval = 300 } : null,
            Username = username,
            Password = password is null ? null : System.Text.Encoding.UTF8.GetBytes(password),
        };
        var reply = await RequestAsync(connect, timeoutSource.Token, "CONNACK", timeout).ConfigureAwait(false);
        if (reply is not MqttConnAckPacket connAck)
            throw new BenchException($"expected CONNACK, got {reply.Type}");
        if (connAck.ReasonCode != MqttReasonCode.Success)
            throw new BenchException($"CONNACK refused: {connAck.ReasonCode} (0x{(byte)connAck.ReasonCode:X2})");
        if (connAck.Properties?.ReceiveMaximum is { } receiveMaximum)
            _window = Math.Min(_window, receiveMaximum);
        if (connAck.Properties?.MaximumPacketSize is { } maximumPacketSize)
            MaximumPacketSize = maximumPacketSize;
    }

    /// <summary>Subscribes to one filter; throws <see cref="BenchException"/> unless the SUBACK grants it.</summary>
    public Task SubscribeAsync(string filter, MqttQos qos, TimeSpan timeout, CancellationToken cancellationToken) =>
        SubscribeAsync([filter], qos, timeout, cancellationToken);

    /// <summary>
    /// Subscribes to <paramref name="filters"/> with one SUBSCRIBE and waits for its SUBACK; throws
    /// <see cref="BenchException"/> unless it grants every filter at <paramref name="qos"/> or more. One SUBSCRIBE
    /// (or CONNECT) at a time per connection.
    /// </summary>
    public async Task SubscribeAsync(IReadOnlyList<string> filters, MqttQos qos, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        _subscribeId = _subscribeId == ushort.MaxValue ? (ushort)1 : (ushort)(_subscribeId + 1);
        var subscribe = new MqttSubscribePacket { PacketId = _subscribeId };
        foreach (var filter in filters)
            subscribe.Subscriptions.Add(new MqttTopicSubscription(filter, qos));
        var reply = await RequestAsync(subscribe, timeoutSource.Token, "SUBACK", timeout).ConfigureAwait(false);
        if (reply is not MqttSubAckPacket subAck)
            throw new BenchException($"expected SUBACK, got {reply.Type}");
        if (subAck.PacketId != subscribe.PacketId || subAck.ReasonCodes.Count != filters.Count)
        {
            throw new BenchException($"SUBACK {subAck.PacketId} with {subAck.ReasonCodes.Count} code(s) for SUBSCRIBE {subscribe.PacketId} of {filters.Count} filter(s)");
        }
        for (var i = 0; i < filters.Count; i++)
        {
            var code = (byte)subAck.ReasonCodes[i];
            if (code >= 0x80)
                throw new BenchException($"SUBSCRIBE {filters[i]} refused: 0x{code:X2}");
            if (code < (byte)qos)
                throw new BenchException($"SUBSCRIBE {filters[i]}: asked for QoS {(int)qos}, granted QoS {code}");
        }
    }

    /// <summary>Prepares this connection to publish <paramref name="payloadSize"/>-byte messages to one topic.</summary>
    public void ConfigurePublisher(string topic, int qos, int payloadSize, int window, uint magic, int publisherIndex)
    {
        _topic = Frames.Utf8(topic);
        _qos = qos;
        _payloadSize = Math.Max(payloadSize, BenchPayload.Size);
        _packetSize = Frames.PublishSize(_topic.Length, _payloadSize, qos, _v5, out _remaining);
        _magic = magic;
        _publisherIndex = publisherIndex;
        if (qos > 0)
        {
            _window = Math.Clamp(Math.Min(window, _window), 1, MaxWindow);
            _inflight = new SemaphoreSlim(_window, _window);
            _idInUse = new bool[MaxWindow + 1];
        }
        // Room for at least one packet; up to 64 KB of batch.
        var size = Math.Max(_packetSize, 64 * 1024);
        if (_sendBuffer.Length < size)
            _sendBuffer = new byte[size];
    }

    /// <summary>
    /// Writes up to <paramref name="count"/> PUBLISH packets (fewer when the batch or the in-flight window is full;
    /// waits for one permit when the window is empty). Returns how many were written; 0 once the connection failed.
    /// </summary>
    public async ValueTask<int> PublishBatchAsync(int count, CancellationToken cancellationToken)
    {
        if (_failure is not null)
            return 0;
        count = Math.Clamp(count, 1, BatchCapacity);
        var granted = count;
        if (_inflight is { } inflight)
        {
            granted = 0;
            while (granted < count && inflight.Wait(0))
                granted++;
            if (granted == 0)
            {
                // Window full: one wait (one allocation) per wake-up, then take every permit the acks have freed.
                await inflight.WaitAsync(cancellationToken).ConfigureAwait(false);
                granted = 1;
                while (granted < count && inflight.Wait(0))
                    granted++;
            }
        }
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var length = EncodePublishes(granted);
            await SendRawAsync(_sendBuffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref _sent, granted);
            return granted;
        }
        catch (Exception ex) when (IsConnectionError(ex))
        {
            Fail("send failed: " + ex.Message);
            return 0;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private int EncodePublishes(int count)
    {
        var span = _sendBuffer.AsSpan();
        var position = 0;
        for (var i = 0; i < count; i++)
        {
            var packetId = _qos > 0 ? AllocatePacketId() : (ushort)0;
            var payloadOffset = Frames.WritePublishHeader(span[position..], _topic, _qos, packetId, _v5, _remaining);
            BenchPayload.Stamp(span[(position + payloadOffset)..], _magic, _publisherIndex, _nextSequence, Stopwatch.GetTimestamp());
            Volatile.Write(ref _nextSequence, _nextSequence + 1);
            position += _packetSize;
        }
        return position;
    }

    private ushort AllocatePacketId()
    {
        lock (_idLock)
        {
            // A permit is held for this message, so fewer than 65535 ids are in use and the scan ends.
            while (true)
            {
                _nextId = _nextId == MaxWindow ? 1 : _nextId + 1;
                if (!_idInUse![_nextId])
                {
                    _idInUse[_nextId] = true;
                    return (ushort)_nextId;
                }
            }
        }
    }

    private bool ReleasePacketId(ushort packetId)
    {
        if (_idInUse is null)
            return false;
        lock (_idLock)
        {
            if (!_idInUse[packetId])
                return false;
            _idInUse[packetId] = false;
            return true;
        }
    }

    private bool IsInFlight(ushort packetId)
    {
        if (_idInUse is null)
            return false;
        lock (_idLock)
            return _idInUse[packetId];
    }

    /// <summary>Sends PINGREQ (keeps idle connections and QoS 0 subscribers within the keep-alive).</summary>
    public async ValueTask PingAsync(CancellationToken cancellationToken)
    {
        if (_failure is not null || _closing)
            return;
        await SendLockedAsync(new byte[] { 0xC0, 0x00 }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends DISCONNECT, waits (at most <see cref="CloseWait"/>) for the broker to close the connection as the spec
    /// requires [MQTT-3.14.4-1], then closes the socket. The broker closing first leaves the TIME_WAIT state on its
    /// side: the generator's ephemeral ports are free again at once, and a run of thousands of connections does not
    /// slow the next run's connects down.
    /// </summary>
    public async Task DisconnectAsync(CancellationToken cancellationToken)
    {
        _closing = true;
        if (_failure is null)
        {
            try
            {
                await SendLockedAsync(new byte[] { 0xE0, 0x00 }, cancellationToken).ConfigureAwait(false);
                await _receiveLoop.WaitAsync(CloseWait, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is BenchException or SocketException or ObjectDisposedException or OperationCanceledException or TimeoutException)
            {
                // Closing anyway: a connection the broker already closed has lost nothing the report would not show.
            }
        }
        _socket.Close();
        await _receiveLoop.ConfigureAwait(false);
    }

    private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(2);

    public async ValueTask DisposeAsync()
    {
        _closing = true;
        _socket.Dispose();
        _stream?.Dispose();
        await _receiveLoop.ConfigureAwait(false);
        _writeLock.Dispose();
        _inflight?.Dispose();
    }

    private async Task<MqttPacket> RequestAsync(MqttPacket packet, CancellationToken cancellationToken, string expected, TimeSpan timeout)
    {
        var reply = new TaskCompletionSource<MqttPacket>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _pendingReply, reply);
        var writer = new ArrayBufferWriter<byte>(64);
        MqttPacketWriter.Write(writer, packet, _version);
        await SendLockedAsync(writer.WrittenMemory, cancellationToken).ConfigureAwait(false);
        try
        {
            return await reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            throw new BenchException($"no {expected} within {timeout.TotalSeconds:0.#}s");
        }
    }

    private async ValueTask SendLockedAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await SendRawAsync(bytes, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsConnectionError(ex))
        {
            var reason = "send failed: " + ex.Message;
            Fail(reason);
            throw new BenchException(reason);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private static bool IsConnectionError(Exception ex) =>
        ex is SocketException or ObjectDisposedException or IOException or WebSocketException;

    private async ValueTask SendRawAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        if (_webSocket is { } webSocket)
            await webSocket.SendAsync(bytes, WebSocketMessageType.Binary, endOfMessage: true, cancellationToken).ConfigureAwait(false);
        else if (_stream is { } stream)
            await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        else
            await _socket.SendAsync(bytes, SocketFlags.None, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Bytes of the MQTT stream, whatever the WebSocket framing; 0 at its end.</summary>
    private async ValueTask<int> ReceiveRawAsync(Memory<byte> buffer)
    {
        if (_webSocket is { } webSocket)
        {
            var result = await webSocket.ReceiveAsync(buffer, CancellationToken.None).ConfigureAwait(false);
            return result.MessageType == WebSocketMessageType.Close ? 0 : result.Count;
        }
        if (_stream is { } stream)
            return await stream.ReadAsync(buffer).ConfigureAwait(false);
        return await _socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
    }

    private void Fail(string reason)
    {
        if (_closing)
            return;
        _failure ??= reason;
        Volatile.Read(ref _pendingReply)?.TrySetException(new BenchException(reason));
    }

    private async Task ReceiveLoopAsync()
    {
        var filled = 0;
        try
        {
            while (true)
            {
                var read = await ReceiveRawAsync(_receiveBuffer.AsMemory(filled)).ConfigureAwait(false);
                if (read == 0)
                {
                    Fail("connection closed by the broker");
                    return;
                }
                var receivedAt = Stopwatch.GetTimestamp();
                filled += read;
                var consumed = Process(filled, receivedAt, out var ackLength, out var needed);
                if (ackLength > 0)
                    await SendAcksAsync(ackLength).ConfigureAwait(false);
                if (_failure is not null)
                    return;
                filled -= consumed;
                if (filled > 0)
                    Buffer.BlockCopy(_receiveBuffer, consumed, _receiveBuffer, 0, filled);
                if (needed > _receiveBuffer.Length)
                {
                    Array.Resize(ref _receiveBuffer, needed);
                    _ackBuffer = new byte[needed];
                }
            }
        }
        catch (Exception ex) when (IsConnectionError(ex))
        {
            Fail("connection lost: " + ex.Message);
        }
        catch (MqttProtocolException ex)
        {
            Fail("bad packet from the broker: " + ex.Message);
            _socket.Dispose();
        }
    }

    private async ValueTask SendAcksAsync(int length)
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await SendRawAsync(_ackBuffer.AsMemory(0, length), CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Handles every complete packet in the first <paramref name="filled"/> bytes; returns the bytes used.</summary>
    private int Process(int filled, long receivedAt, out int ackLength, out int needed)
    {
        ackLength = 0;
        needed = 0;
        var position = 0;
        while (filled - position >= 2)
        {
            var rest = _receiveBuffer.AsSpan(position, filled - position);
            if (!Frames.TryReadVariableByteInteger(rest[1..], out var remaining, out var lengthSize))
            {
                if (lengthSize < 0)
                    throw new MqttProtocolException(MqttReasonCode.MalformedPacket, "Remaining Length longer than 4 bytes");
                break;
            }
            var total = 1 + lengthSize + remaining;
            if (rest.Length < total)
            {
                needed = total;
                break;
            }
            Handle(position, total, rest[0], rest.Slice(1 + lengthSize, remaining), receivedAt, ref ackLength);
            position += total;
        }
        return position;
    }

    private void Handle(int offset, int total, byte firstByte, ReadOnlySpan<byte> body, long receivedAt, ref int ackLength)
    {
        var type = firstByte >> 4;
        switch (type)
        {
            case 3: // PUBLISH
                var qos = (firstByte >> 1) & 3;
                if (!Frames.TryParsePublish(body, qos, _v5, out var packetId, out var payload))
                    throw new MqttProtocolException(MqttReasonCode.MalformedPacket, "malformed PUBLISH");
                _sink?.OnPublish(payload, receivedAt);
                if (qos == 1)
                    AppendAck(Frames.PubAck, packetId, ref ackLength);
                else if (qos == 2)
                    AppendAck(Frames.PubRec, packetId, ref ackLength);
                break;
            case 4: // PUBACK
            case 7: // PUBCOMP
                CompleteOutgoing(body);
                break;
            case 5: // PUBREC
                var recId = ReadPacketId(body);
                if (body.Length > 2 && body[2] >= 0x80)
                {
                    CompleteOutgoing(body);
                }
                else if (IsInFlight(recId))
                {
                    AppendAck(Frames.PubRel, recId, ref ackLength);
                }
                else
                {
                    Interlocked.Increment(ref _protocolErrors);
                }
                break;
            case 6: // PUBREL
                AppendAck(Frames.PubComp, ReadPacketId(body), ref ackLength);
                break;
            case 13: // PINGRESP
                break;
            case 14: // DISCONNECT (MQTT 5)
                Fail(body.Length > 0 ? $"DISCONNECT from the broker, reason 0x{body[0]:X2}" : "DISCONNECT from the broker");
                break;
            default: // CONNACK, SUBACK, UNSUBACK, AUTH: the slow path through the codec.
                var sequence = new ReadOnlySequence<byte>(_receiveBuffer, offset, total);
                if (MqttPacketReader.TryRead(ref sequence, _version, 0, out var packet)
                    && Volatile.Read(ref _pendingReply) is { } reply)
                {
                    reply.TrySetResult(packet);
                }
                else
                {
                    Interlocked.Increment(ref _protocolErrors);
                }
                break;
        }
    }

    private static ushort ReadPacketId(ReadOnlySpan<byte> body) =>
        body.Length >= 2 ? System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(body) : (ushort)0;

    private void CompleteOutgoing(ReadOnlySpan<byte> body)
    {
        if (!ReleasePacketId(ReadPacketId(body)))
        {
            Interlocked.Increment(ref _protocolErrors);
            return;
        }
        if (body.Length > 2 && body[2] >= 0x80)
            Interlocked.Increment(ref _rejected);
        else
            Interlocked.Increment(ref _completed);
        _inflight!.Release();
    }

    private void AppendAck(byte firstByte, ushort packetId, ref int ackLength)
    {
        Frames.WriteAck(_ackBuffer.AsSpan(ackLength), firstByte, packetId);
        ackLength += 4;
    }
}

/// <summary>A run cannot go on (refused connection, no SUBACK, ...); the message is for the operator.</summary>
internal sealed class BenchException(string message) : Exception(message);
