using System.Buffers.Binary;
using System.Text;
using System.Threading.Channels;
using Broker.Abstractions.Plugins;
using Broker.Core.Cluster;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace Broker.Cluster;

/// <summary>
/// The channel between a plugin's copies on the nodes while this node is in the cluster (what plugins see as
/// <see cref="IPluginCluster"/>, through <see cref="ClusterMembership"/>, which keeps their listeners across joins). Subjects, with <c>c</c> = cluster.name and <c>p</c> = the plugin's name (plugin names
/// are subject-safe: letters, digits, '_' and '-'): <c>c.plg.p.all</c> for broadcasts, which every node receives, and
/// <c>c.plg.p.to.n</c> for requests to node n. Every payload starts with the sender's node name (u16 length, UTF-8).
/// </summary>
internal sealed partial class ClusterNode
{
    private Channel<(string Subject, byte[] Data)>? _pluginOut;

    /// <summary>The plugins' listeners on this node (owned by <see cref="ClusterMembership"/>); set before <see cref="Start"/>.</summary>
    public PluginListeners PluginListeners { get; init; } = new();

    private Channel<(string Subject, byte[] Data)> PluginOut => LazyInitializer.EnsureInitialized(ref _pluginOut,
        () => Channel.CreateBounded<(string, byte[])>(new BoundedChannelOptions(_options.MaxForwardQueue) { SingleReader = true }));

    /// <summary>The other nodes running now.</summary>
    public IReadOnlyList<string> RunningNodes()
    {
        lock (_members)
            return [.. _members.Values.Where(n => n.IsUp).Select(n => n.Name).Order(StringComparer.Ordinal)];
    }

    /// <summary>Queues <paramref name="message"/> for <paramref name="plugin"/> on every other node; never blocks.</summary>
    public void Broadcast(string plugin, ReadOnlyMemory<byte> message)
    {
        if (!PluginOut.Writer.TryWrite((_options.Name + ".plg." + plugin + ".all", Envelope(message.Span))))
            Interlocked.Increment(ref _forwardDropped);
    }

    /// <summary>Asks <paramref name="plugin"/> on <paramref name="node"/>; throws <see cref="PluginClusterException"/>.</summary>
    public async Task<byte[]> RequestAsync(string plugin, string node, ReadOnlyMemory<byte> request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (!RunningNodes().Contains(node, StringComparer.Ordinal))
            throw new PluginClusterException($"node {node} is not running in cluster {_options.Name}");
        try
        {
            var reply = await LargeReply.RequestAsync(_nats, RequestSubject(plugin, _subjects.Token(node)), Envelope(request.Span), timeout, cancellationToken).ConfigureAwait(false);
            if (reply.Headers?.TryGetValue(PluginErrorHeader, out var error) == true)
                throw new PluginClusterException($"plugin {plugin} on node {node} failed: {error}");
            return reply.Data ?? [];
        }
        catch (NatsNoRespondersException ex)
        {
            throw new PluginClusterException($"plugin {plugin} does not listen on node {node}", ex);
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            throw new PluginClusterException($"no answer from plugin {plugin} on node {node} within {timeout.TotalMilliseconds:0} ms ({ex.Message})", ex);
        }
    }

    private const string PluginErrorHeader = "Broker-Plugin-Error";

    private string RequestSubject(string plugin, string token) => _options.Name + ".plg." + plugin + ".to." + token;

    /// <summary>Tells every plugin listener that <paramref name="node"/> came up; a listener that throws is logged.</summary>
    private void NotifyNodeUp(string node)
    {
        foreach (var listener in PluginListeners.All())
        {
            try
            {
                listener.OnNodeUp(node);
            }
            catch (Exception ex)
            {
                LogPluginListenerFailed(_logger, ex, "node up");
            }
        }
    }

    private byte[] Envelope(ReadOnlySpan<byte> data)
    {
        var name = Encoding.UTF8.GetBytes(NodeName);
        var envelope = new byte[2 + name.Length + data.Length];
        BinaryPrimitives.WriteUInt16BigEndian(envelope, (ushort)name.Length);
        name.CopyTo(envelope, 2);
        data.CopyTo(envelope.AsSpan(2 + name.Length));
        return envelope;
    }

    private static bool TryOpen(byte[]? envelope, out string from, out ReadOnlyMemory<byte> data)
    {
        from = "";
        data = default;
        if (envelope is null || envelope.Length < 2)
            return false;
        var length = BinaryPrimitives.ReadUInt16BigEndian(envelope);
        if (envelope.Length < 2 + length)
            return false;
        from = Encoding.UTF8.GetString(envelope, 2, length);
        data = envelope.AsMemory(2 + length);
        return true;
    }

    /// <summary>The plugin's name in <c>c.plg.p.all</c> / <c>c.plg.p.to.n</c> (cluster.name may hold dots: counted from the end).</summary>
    private static string PluginOf(string subject, int tokensAfter)
    {
        var end = subject.Length;
        for (var i = 0; i < tokensAfter; i++)
            end = subject.LastIndexOf('.', end - 1);
        var start = subject.LastIndexOf('.', end - 1) + 1;
        return subject[start..end];
    }

    private async Task PublishPluginMessagesAsync(CancellationToken cancel)
    {
        await foreach (var (subject, data) in PluginOut.Reader.ReadAllAsync(cancel).ConfigureAwait(false))
        {
            try
            {
                await _nats.PublishAsync(subject, data, cancellationToken: cancel).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NatsException or TimeoutException)
            {
                Interlocked.Increment(ref _forwardDropped);
            }
        }
    }

    /// <summary>Broadcasts of the plugins, one at a time in arrival order.</summary>
    private async Task ReceivePluginBroadcastsAsync(CancellationToken cancel)
    {
        await foreach (var msg in _nats.SubscribeAsync<byte[]>(_options.Name + ".plg.*.all", cancellationToken: cancel).ConfigureAwait(false))
        {
            if (!TryOpen(msg.Data, out var from, out var data) || from == NodeName || PluginListeners.Of(PluginOf(msg.Subject, 1)) is not { } listener)
                continue;
            try
            {
                await listener.OnMessageAsync(from, data, cancel).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancel.IsCancellationRequested)
            {
                LogPluginListenerFailed(_logger, ex, msg.Subject);
            }
        }
    }

    /// <summary>Requests to this node's plugins, each answered on its own (a slow one does not hold the others).</summary>
    private async Task ServePluginRequestsAsync(CancellationToken cancel)
    {
        await foreach (var msg in _nats.SubscribeAsync<byte[]>(RequestSubject("*", _subjects.Token(NodeName)), cancellationToken: cancel).ConfigureAwait(false))
        {
            if (!TryOpen(msg.Data, out var from, out var data))
                continue;
            _ = AnswerAsync(msg, PluginOf(msg.Subject, 2), from, data, cancel);
        }
    }

    private async Task AnswerAsync(NatsMsg<byte[]> msg, string plugin, string from, ReadOnlyMemory<byte> request, CancellationToken cancel)
    {
        byte[] answer = [];
        NatsHeaders? error = null;
        if (PluginListeners.Of(plugin) is not { } listener)
            error = new NatsHeaders { [PluginErrorHeader] = "not loaded on this node" };
        else
        {
            try
            {
                answer = await listener.OnRequestAsync(from, request, cancel).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancel.IsCancellationRequested)
            {
                LogPluginListenerFailed(_logger, ex, msg.Subject);
                error = new NatsHeaders { [PluginErrorHeader] = ex.GetType().Name + ": " + ex.Message };
            }
        }
        try
        {
            if (error is null)
                await LargeReply.ReplyAsync(_nats, msg, answer, cancel).ConfigureAwait(false);
            else
                await msg.ReplyAsync(answer, headers: error, cancellationToken: cancel).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NatsException or OperationCanceledException)
        {
        }
    }

    [LoggerMessage(EventId = 2430, Level = LogLevel.Error, Message = "Cluster: a plugin's cluster listener failed ({What})")]
    private static partial void LogPluginListenerFailed(ILogger logger, Exception ex, string what);
}

/// <summary>
/// Each plugin's listener on this node (<see cref="IPluginCluster.Listen"/>), one per plugin name: a reload's new
/// instance replaces the old one's. Kept by <see cref="ClusterMembership"/>, so a leave and a join keep them.
/// </summary>
internal sealed class PluginListeners
{
    private readonly Dictionary<string, IPluginClusterListener> _listeners = new(StringComparer.Ordinal);

    public IDisposable Listen(string plugin, IPluginClusterListener listener)
    {
        lock (_listeners)
            _listeners[plugin] = listener;
        return new Listening(this, plugin, listener);
    }

    public IPluginClusterListener? Of(string plugin)
    {
        lock (_listeners)
            return _listeners.GetValueOrDefault(plugin);
    }

    public IPluginClusterListener[] All()
    {
        lock (_listeners)
            return [.. _listeners.Values];
    }

    private sealed class Listening(PluginListeners owner, string plugin, IPluginClusterListener listener) : IDisposable
    {
        public void Dispose()
        {
            lock (owner._listeners)
            {
                // Only this registration: a reload's new instance may have replaced it already.
                if (owner._listeners.TryGetValue(plugin, out var current) && ReferenceEquals(current, listener))
                    owner._listeners.Remove(plugin);
            }
        }
    }
}
