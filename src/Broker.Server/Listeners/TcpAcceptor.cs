using Broker.Core.Connections;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Broker.Server.Listeners;

/// <summary>
/// The plain <c>tcp</c> listener's socket and accept loop. Each accepted connection becomes a <see cref="SocketPipe"/>
/// handed to the listener on the thread pool; TLS and WebSocket listeners stay on Kestrel, which owns TLS and HTTP.
/// </summary>
/// <remarks>
/// Accept errors other than the listener closing (out of descriptors, above all) are logged once per run of failures
/// and retried after a short pause: the connection waits in the kernel's backlog meanwhile, and the loop neither
/// spins nor stops.
/// </remarks>
internal sealed partial class TcpAcceptor : IAsyncDisposable
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(50);

    private readonly Socket _socket;
    private readonly AcceptRateLimit? _rate;
    private readonly Func<Socket, bool> _admit;
    private readonly Action<Socket> _onConnection;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;

    private TcpAcceptor(Socket socket, AcceptRateLimit? rate, Func<Socket, bool> admit, Action<Socket> onConnection, TimeProvider time, ILogger logger, string name)
    {
        _socket = socket;
        _rate = rate;
        _admit = admit;
        _onConnection = onConnection;
        _time = time;
        _logger = logger;
        _name = name;
        EndPoint = (IPEndPoint)socket.LocalEndPoint!;
        _loop = AcceptLoopAsync();
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Binds and listens (throws <see cref="SocketException"/> when the address cannot be bound), then accepts.</summary>
    /// <param name="admit">
    /// Decides each accepted socket on the accept loop itself (limits, descriptor budget): a refused one is closed at
    /// once, so accepted sockets never pile up waiting for a busy thread pool, each holding a descriptor.
    /// </param>
    /// <param name="onConnection">Runs each admitted socket; called on the thread pool, and owns the socket.</param>
    public static TcpAcceptor Start(IPEndPoint endPoint, int backlog, int maxConnRate, Func<Socket, bool> admit, Action<Socket> onConnection, TimeProvider time, ILogger logger, string name)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // "[::]" also takes IPv4 clients, as Kestrel's does.
            if (endPoint.Address.Equals(IPAddress.IPv6Any))
                socket.DualMode = true;
            socket.Bind(endPoint);
            socket.Listen(backlog);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new TcpAcceptor(socket, maxConnRate > 0 ? new AcceptRateLimit(maxConnRate, time) : null, admit, onConnection, time, logger, name);
    }

    private async Task AcceptLoopAsync()
    {
        await Task.Yield();
        var token = _stopping.Token;
        var failing = false;
        while (!token.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await _socket.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex)
            {
                if (!failing)
                    LogAcceptFailed(_logger, _name, ex.SocketErrorCode, ex.Message);
                failing = true;
                try
                {
                    await Task.Delay(RetryDelay, _time, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            failing = false;
            if (_rate is not null)
            {
                try
                {
                    await _rate.TakeAsync(token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    accepted.Dispose();
                    return;
                }
            }
            if (!_admit(accepted))
            {
                accepted.Dispose();
                continue;
            }
            accepted.NoDelay = true;
            ThreadPool.UnsafeQueueUserWorkItem(_onConnection, accepted, preferLocal: false);
        }
    }

    /// <summary>Stops accepting and closes the socket; connections already accepted are not touched.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _loop.ConfigureAwait(false);
        _stopping.Dispose();
    }

    [LoggerMessage(EventId = 212, Level = LogLevel.Warning, Message = "Listener {Name} cannot accept connections ({Error}: {Message}); retrying, waiting connections stay in the backlog")]
    private static partial void LogAcceptFailed(ILogger logger, string name, SocketError error, string message);
}
