using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Broker.Core.Hosting;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace Broker.Server.Listeners;

/// <summary>
/// The broker's epoll transport as a Kestrel transport, for every MQTT listener: each accepted connection's
/// <see cref="ConnectionContext.Transport"/> is a <see cref="SocketPipe"/> on one of the listener's
/// <see cref="EpollLoop"/>s. On ssl, ws and wss, TLS records are received, decrypted and parsed on the loop's thread,
/// and a flush goes through TLS straight into <c>send</c>, instead of each read and write crossing Kestrel's socket
/// transport's own pipes and threads (bench/README.md, "TLS and WebSocket over the epoll transport").
/// </summary>
/// <remarks>
/// What Kestrel asks of a transport connection and how it is met: <see cref="EpollConnection.Abort(ConnectionAbortedException)"/>
/// (timeouts, shutdown) closes the socket, which ends a pending read and write; <see cref="EpollConnection.DisposeAsync"/>,
/// once the connection's middleware has returned, completes both sides, which closes the socket at once (a WebSocket
/// connection's linger is <see cref="WebSocketPipe"/>'s, before that); a read's cancellation token (the TLS handshake's
/// timeout) ends that read with <see cref="OperationCanceledException"/>, and
/// <see cref="System.IO.Pipelines.PipeReader.CancelPendingRead"/> ends one read, as with a <see cref="Pipe"/>. The
/// connection's features hold its loop as the <see cref="IWriterScheduler"/> its MQTT writer runs on, visible to the
/// TLS and HTTP middleware's connection and request too.
/// </remarks>
/// <param name="bind">Binds the listening socket (throws naming the key when it cannot).</param>
/// <param name="nextLoop">The loop that reads the next connection; null for .NET's socket engine.</param>
/// <param name="closing">How the connections close (linger, closed callback).</param>
/// <param name="rate"><c>max_conn_rate</c>: a token taken per accepted connection, waiting for one in between; null for none.</param>
/// <param name="admit">
/// tcp and ssl (whose TLS is the broker's own, <see cref="TlsPipe"/>): each accepted socket is first decided by this on the accept loop (limits, descriptor budget; a refused
/// one is closed at once, so accepted sockets never pile up waiting for the thread pool, each holding a descriptor),
/// and an admitted connection outlives its connection middleware: the middleware starts the channel and returns at
/// once, so Kestrel keeps nothing for an idle connection (no connection object, no awaiting state machine), and the
/// channel completes the pipe when it ends. Null for ws and wss, whose middleware (HTTP, TLS) runs as long as the
/// connection and whose pipe <see cref="EpollConnection.DisposeAsync"/> completes.
/// </param>
internal sealed class EpollTransportFactory(Func<IPEndPoint, ListeningSocket> bind, Func<EpollLoop?> nextLoop, SocketPipe.Closing closing, AcceptRateLimit? rate, Func<Socket, bool>? admit) : IConnectionListenerFactory
{
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        new(new Listener(this, bind((IPEndPoint)endpoint))); // Kestrel is only given IP endpoints (MqttListener.Build)

    /// <summary>The next connection rate and admission let through; null once unbound.</summary>
    private async ValueTask<ConnectionContext?> AcceptAsync(ListeningSocket socket, long id, CancellationToken token)
    {
        while (await socket.AcceptAsync(token).ConfigureAwait(false) is { } accepted)
        {
            if (rate is not null)
            {
                try
                {
                    await rate.TakeAsync(token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    accepted.Dispose(); // unbinding
                    return null;
                }
            }
            if (admit is not null && !admit(accepted))
            {
                accepted.Dispose();
                continue;
            }
            var loop = nextLoop();
            var pipe = new SocketPipe(accepted, loop, closing);
            var connection = new EpollConnection(id, pipe, accepted.LocalEndPoint, SocketPipe.RemoteOf(accepted), ownedByMiddleware: admit is null);
            // The MQTT connection's writer runs on the loop that reads it (ConnectionSettings.Writers).
            connection.Features.Set<IWriterScheduler>(loop is null ? ThreadPoolWriterScheduler.Instance : loop);
            return connection;
        }
        return null;
    }

    private sealed class Listener(EpollTransportFactory factory, ListeningSocket socket) : IConnectionListener
    {
        private readonly CancellationTokenSource _unbound = new();
        private long _nextId;

        public EndPoint EndPoint => socket.EndPoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            // Kestrel stops accepting by unbinding; a token of its own, should it pass one, is honoured too.
            using var linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(_unbound.Token, cancellationToken) : null;
            return await factory.AcceptAsync(socket, ++_nextId, linked?.Token ?? _unbound.Token).ConfigureAwait(false);
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            _unbound.Cancel();
            socket.Dispose();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            _unbound.Cancel();
            socket.Dispose();
            _unbound.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>One accepted connection, as Kestrel's connection middleware sees it.</summary>
    private sealed class EpollConnection : ConnectionContext
    {
        private readonly SocketPipe _pipe;
        private readonly long _id;
        private string? _connectionId;
        private IDictionary<object, object?>? _items;
        private CancellationTokenSource? _closed;
        private readonly Lock _closedLock = new();
        private bool _over; // aborted or disposed
        private readonly bool _ownedByMiddleware;

        public EpollConnection(long id, SocketPipe pipe, EndPoint? local, EndPoint? remote, bool ownedByMiddleware)
        {
            _id = id;
            _pipe = pipe;
            _ownedByMiddleware = ownedByMiddleware;
            Transport = pipe;
            LocalEndPoint = local;
            RemoteEndPoint = remote;
        }

        public override string ConnectionId
        {
            get => _connectionId ??= "E" + _id.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
            set => _connectionId = value;
        }

        public override IFeatureCollection Features { get; } = new FeatureCollection();

        public override IDictionary<object, object?> Items
        {
            get => _items ??= new Dictionary<object, object?>();
            set => _items = value;
        }

        public override IDuplexPipe Transport { get; set; }

        /// <summary>Fires when the connection is aborted or disposed.</summary>
        public override CancellationToken ConnectionClosed
        {
            get
            {
                lock (_closedLock)
                {
                    _closed ??= new CancellationTokenSource();
                    if (_over)
                        _closed.Cancel();
                    return _closed.Token;
                }
            }
            set => throw new NotSupportedException();
        }

        public override void Abort(ConnectionAbortedException abortReason)
        {
            _pipe.Abort();
            FireClosed();
        }

        /// <summary>Once the connection middleware has returned: ends the connection, unless it was tcp's or ssl's (its channel goes on).</summary>
        public override ValueTask DisposeAsync()
        {
            if (!_ownedByMiddleware)
                return ValueTask.CompletedTask;
            _pipe.Input.Complete();
            _pipe.Complete();
            FireClosed();
            return ValueTask.CompletedTask;
        }

        private void FireClosed()
        {
            CancellationTokenSource? closed;
            lock (_closedLock)
            {
                _over = true;
                closed = _closed;
            }
            closed?.Cancel();
        }
    }
}
