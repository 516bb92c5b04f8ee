using System.Net;
using System.Net.Sockets;

namespace Broker.Server.Listeners;

/// <summary>
/// The plain <c>tcp</c> listener's accept loop over its <see cref="ListeningSocket"/>. Each accepted connection is
/// admitted or refused on the loop, then becomes a <see cref="SocketPipe"/> handed to the listener on the thread pool.
/// </summary>
internal sealed class TcpAcceptor : IAsyncDisposable
{
    private readonly ListeningSocket _socket;
    private readonly AcceptRateLimit? _rate;
    private readonly Func<Socket, bool> _admit;
    private readonly Action<Socket> _onConnection;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;

    private TcpAcceptor(ListeningSocket socket, AcceptRateLimit? rate, Func<Socket, bool> admit, Action<Socket> onConnection)
    {
        _socket = socket;
        _rate = rate;
        _admit = admit;
        _onConnection = onConnection;
        _loop = AcceptLoopAsync();
    }

    public IPEndPoint EndPoint => _socket.EndPoint;

    /// <summary>Accepts on <paramref name="socket"/>, which it then owns.</summary>
    /// <param name="admit">
    /// Decides each accepted socket on the accept loop itself (limits, descriptor budget): a refused one is closed at
    /// once, so accepted sockets never pile up waiting for a busy thread pool, each holding a descriptor.
    /// </param>
    /// <param name="onConnection">Runs each admitted socket; called on the thread pool, and owns the socket.</param>
    public static TcpAcceptor Start(ListeningSocket socket, int maxConnRate, Func<Socket, bool> admit, Action<Socket> onConnection, TimeProvider time) =>
        new(socket, maxConnRate > 0 ? new AcceptRateLimit(maxConnRate, time) : null, admit, onConnection);

    private async Task AcceptLoopAsync()
    {
        await Task.Yield();
        var token = _stopping.Token;
        while (await _socket.AcceptAsync(token).ConfigureAwait(false) is { } accepted)
        {
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
}
