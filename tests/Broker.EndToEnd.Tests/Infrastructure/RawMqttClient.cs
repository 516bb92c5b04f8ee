using System.Diagnostics;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>One MQTT control packet as read off the wire: fixed-header byte and the remaining bytes.</summary>
public sealed record RawPacket(byte Header, byte[] Body)
{
    public int Type => Header >> 4;

    public int Flags => Header & 0x0F;

    public override string ToString() =>
        $"{MqttBytes.TypeName(Type)}(flags={Flags:X}, {Convert.ToHexString(Body.AsSpan(0, Math.Min(Body.Length, 64)))})";
}

/// <summary>
/// A TCP client of our own for wire-level cases: sends arbitrary bytes and reads whole packets with timeouts.
/// A background reader drains the socket from the start, so a packet the broker sends just before it closes
/// (a DISCONNECT with a reason code) is kept even if the connection is then reset.
/// </summary>
public sealed class RawMqttClient : IAsyncDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly Channel<RawPacket> _packets = Channel.CreateUnbounded<RawPacket>();
    private readonly TaskCompletionSource<string> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader;

    private RawMqttClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _reader = Task.Run(ReadLoopAsync);
    }

    /// <summary>Completes with how the connection ended ("closed by peer", "reset: ...").</summary>
    public Task<string> Closed => _closed.Task;

    /// <summary>When the connection was seen closed (Stopwatch timestamp), or 0.</summary>
    public long ClosedAt { get; private set; }

    public static Task<RawMqttClient> ConnectAsync(BrokerProcess broker) => ConnectAsync(broker.Host, broker.Port);

    /// <summary>Connects to another listener of the broker (or anything else speaking MQTT over TCP).</summary>
    public static async Task<RawMqttClient> ConnectAsync(string host, int port)
    {
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(host, port, TestContext.Current.CancellationToken);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
        return new RawMqttClient(tcp);
    }

    /// <summary>Connects and performs a CONNECT/CONNACK handshake, failing unless the CONNACK accepts.</summary>
    public static async Task<RawMqttClient> ConnectMqttAsync(BrokerProcess broker, byte[] connect)
    {
        var client = await ConnectAsync(broker);
        await client.SendAsync(connect);
        var connack = await client.ReceiveAsync();
        Assert.True(connack.Type == MqttBytes.Connack && connack.Body[1] == 0, $"CONNACK refused: {connack}");
        return client;
    }

    /// <summary>Sends bytes; returns false when the broker already closed the connection.</summary>
    public async Task<bool> SendAsync(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            await _stream.WriteAsync(bytes, TestContext.Current.CancellationToken);
            await _stream.FlushAsync(TestContext.Current.CancellationToken);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The next packet; fails if none arrives in time or the connection closes first.</summary>
    public async Task<RawPacket> ReceiveAsync(TimeSpan? timeout = null)
    {
        var packet = await ReceiveOrCloseAsync(timeout);
        return packet ?? throw new Xunit.Sdk.XunitException($"connection closed ({await Closed}) while waiting for a packet");
    }

    /// <summary>The next packet of type <paramref name="type"/>, skipping others (e.g. PINGRESP).</summary>
    public async Task<RawPacket> ReceiveAsync(int type, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)((timeout ?? DefaultTimeout).TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var left = TimeSpan.FromSeconds(Math.Max(0, (deadline - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency));
            var packet = await ReceiveAsync(left);
            if (packet.Type == type)
            {
                return packet;
            }
        }
    }

    /// <summary>The next packet, or null once the connection is closed; fails on timeout.</summary>
    public async Task<RawPacket?> ReceiveOrCloseAsync(TimeSpan? timeout = null)
    {
        var t = timeout ?? DefaultTimeout;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(t);
        try
        {
            return await _packets.Reader.WaitToReadAsync(cts.Token) && _packets.Reader.TryRead(out var packet)
                ? packet
                : null;
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"no packet within {t.TotalSeconds:0.#} s");
        }
    }

    /// <summary>
    /// Waits for the broker to close the connection; returns the packets it sent before closing.
    /// Fails if the connection is still open after <paramref name="timeout"/>.
    /// </summary>
    public async Task<IReadOnlyList<RawPacket>> WaitForCloseAsync(TimeSpan? timeout = null)
    {
        var t = timeout ?? DefaultTimeout;
        try
        {
            await Closed.WaitAsync(t, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"the broker did not close the connection within {t.TotalSeconds:0.#} s");
        }

        var packets = new List<RawPacket>();
        while (_packets.Reader.TryRead(out var packet))
        {
            packets.Add(packet);
        }

        return packets;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _tcp.Dispose();
        try
        {
            await _reader;
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or IOException)
        {
        }

        _stop.Dispose();
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[64 * 1024];
        var pending = new List<byte>();
        var reason = "closed by peer";
        try
        {
            while (true)
            {
                var n = await _stream.ReadAsync(buffer, _stop.Token);
                if (n == 0)
                {
                    break;
                }

                pending.AddRange(buffer.AsSpan(0, n));
                while (MqttBytes.TryParse(pending, out var packet, out var consumed))
                {
                    pending.RemoveRange(0, consumed);
                    _packets.Writer.TryWrite(packet);
                }
            }
        }
        catch (OperationCanceledException)
        {
            reason = "closed by the test";
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            reason = "reset: " + e.Message;
        }

        if (pending.Count > 0)
        {
            reason += $" ({pending.Count} bytes of an incomplete packet left)";
        }

        ClosedAt = Stopwatch.GetTimestamp();
        _packets.Writer.TryComplete();
        _closed.TrySetResult(reason);
    }
}
