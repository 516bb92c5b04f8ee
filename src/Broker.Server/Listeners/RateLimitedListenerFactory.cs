using System.Net;
using Microsoft.AspNetCore.Connections;

namespace Broker.Server.Listeners;

/// <summary>
/// <c>max_conn_rate</c> for the listeners Kestrel runs (ssl, ws, wss): wraps the socket transport so that accepting
/// waits for an <see cref="AcceptRateLimit"/> token.
/// </summary>
internal sealed class RateLimitedListenerFactory(IConnectionListenerFactory inner, int perSecond, TimeProvider time) : IConnectionListenerFactory
{
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        new Listener(await inner.BindAsync(endpoint, cancellationToken).ConfigureAwait(false), new AcceptRateLimit(perSecond, time));

    private sealed class Listener(IConnectionListener inner, AcceptRateLimit rate) : IConnectionListener
    {
        public EndPoint EndPoint => inner.EndPoint;

        /// <remarks>Kestrel calls this from one accept loop per endpoint, as <see cref="AcceptRateLimit"/> requires.</remarks>
        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            var connection = await inner.AcceptAsync(cancellationToken).ConfigureAwait(false);
            if (connection is null)
                return null;
            try
            {
                await rate.TakeAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await connection.DisposeAsync().ConfigureAwait(false); // unbinding
                return null;
            }
            return connection;
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => inner.UnbindAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
