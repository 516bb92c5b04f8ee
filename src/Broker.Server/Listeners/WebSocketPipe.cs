using Broker.Core.Connections;
using System.IO.Pipelines;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging;

namespace Broker.Server.Listeners;

/// <summary>
/// A server WebSocket seen as the byte stream MQTT runs over, so the same MQTT connection (the core's <c>ClientChannel</c>)
/// serves TCP and WebSocket clients. Frames carry no MQTT meaning: the payloads of binary messages are appended to
/// <see cref="Input"/> as they come, so a packet split across frames or several packets in one frame are framed by the
/// channel like any TCP read [MQTT-6.0.0-2]; whatever the channel writes to <see cref="Output"/> in one flush goes out
/// as one binary message. A text frame closes the connection [MQTT-6.0.0-1].
/// </summary>
/// <remarks>
/// Back-pressure: the input pipe pauses the receive loop when the channel stops reading (e.g. an inbound rate limit),
/// which stops reading the socket. Closing (<see cref="DisposeAsync"/>): the last packets and our Close frame go out,
/// then what the peer still sends is dropped until its Close frame answers ours, for at most the linger
/// (<c>mqtt.close_linger</c>) and <see cref="SocketPipe.LingerMaxBytes"/>, so a client still writing reads the
/// closing packet instead of meeting a reset.
/// </remarks>
internal sealed partial class WebSocketPipe : IDuplexPipe, IAsyncDisposable
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Both pipes resume their reader and writer on the thread that makes them ready (the channel's flush runs the send
    /// loop, a received frame runs the channel's parse), not through the thread pool: each hop is a thread wake-up,
    /// the largest part of a WebSocket message's CPU before (bench/README.md, "TLS and WebSocket on Kestrel").
    /// </summary>
    private static readonly PipeOptions Options = new(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
        useSynchronizationContext: false);

    private readonly WebSocket _socket;
    private readonly ILogger _logger;
    private readonly string? _peer;
    private readonly Pipe _input = new(Options);
    private readonly Pipe _output = new(Options);
    private readonly TimeSpan _linger;
    private readonly Task _receiving;
    private readonly Task _sending;

    public WebSocketPipe(WebSocket socket, ILogger logger, string? peer, TimeSpan linger)
    {
        _socket = socket;
        _logger = logger;
        _peer = peer;
        _linger = linger;
        _receiving = ReceiveLoopAsync();
        _sending = SendLoopAsync();
    }

    public PipeReader Input => _input.Reader;

    public PipeWriter Output => _output.Writer;

    private async Task ReceiveLoopAsync()
    {
        var writer = _input.Writer;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(4096);
                var result = await _socket.ReceiveAsync(memory, CancellationToken.None).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                    break;
                if (result.MessageType == WebSocketMessageType.Text)
                {
                    // MQTT control packets are sent in binary frames; other data closes the connection [MQTT-6.0.0-1].
                    LogTextFrame(_logger, _peer);
                    await _socket.CloseOutputAsync(WebSocketCloseStatus.InvalidMessageType, "MQTT uses binary frames only", CancellationToken.None)
                        .ConfigureAwait(false);
                    break;
                }
                writer.Advance(result.Count);
                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted)
                {
                    await DropUntilCloseAsync().ConfigureAwait(false);
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException or InvalidOperationException)
        {
            // The peer went away or the socket was aborted.
        }
        finally
        {
            await writer.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The channel is done reading: drop what the peer sends until its Close frame (ended by DisposeAsync).</summary>
    private async Task DropUntilCloseAsync()
    {
        var dropped = 0;
        while (_linger > TimeSpan.Zero && dropped < SocketPipe.LingerMaxBytes)
        {
            var result = await _socket.ReceiveAsync(SocketPipe.DiscardBuffer.AsMemory(), CancellationToken.None).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
                return;
            dropped += result.Count;
        }
    }

    private async Task SendLoopAsync()
    {
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    if (!buffer.IsEmpty)
                    {
                        var position = buffer.Start;
                        while (buffer.TryGet(ref position, out var segment))
                        {
                            var last = position.GetObject() is null;
                            await _socket.SendAsync(segment, WebSocketMessageType.Binary, last, CancellationToken.None).ConfigureAwait(false);
                        }
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.End);
                }
                if (result.IsCompleted || result.IsCanceled)
                    break;
            }
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None)
                    .WaitAsync(CloseTimeout).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException or TimeoutException or InvalidOperationException)
        {
            // The peer went away or the socket was aborted.
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>After the channel is done: lets the last packets and the close frame go out, then drops the socket.</summary>
    public async ValueTask DisposeAsync()
    {
        await _output.Writer.CompleteAsync().ConfigureAwait(false);
        try
        {
            await _sending.WaitAsync(CloseTimeout).ConfigureAwait(false);
            await _receiving.WaitAsync(_linger).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A peer that neither reads nor answers the close handshake.
        }
        _socket.Abort();
        await Task.WhenAll(_sending, _receiving).ConfigureAwait(false);
        _socket.Dispose();
    }

    [LoggerMessage(EventId = 220, Level = LogLevel.Warning, Message = "WebSocket connection {Peer} closed: text frame received, MQTT uses binary frames only [MQTT-6.0.0-1]")]
    private static partial void LogTextFrame(ILogger logger, string? peer);
}
