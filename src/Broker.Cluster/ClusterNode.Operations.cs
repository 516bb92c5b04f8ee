using NATS.Client.Core;

namespace Broker.Cluster;

/// <summary>One other node's answer to <see cref="ClusterNode.AskAsync"/>: its reply, or why there is none.</summary>
/// <param name="Node">The node's name.</param>
/// <param name="Reply">What it answered; null when <paramref name="Error"/> says why not.</param>
/// <param name="Error">Down, not answering within the timeout, or its own error.</param>
internal sealed record NodeAnswer(string Node, byte[]? Reply, string? Error);

/// <summary>
/// What operators do to the cluster through this node: ask the other nodes (the management API's cluster-wide lists),
/// list their routes, leave, and remove another node (EMQX's <c>cluster leave</c> / <c>force-leave</c>).
/// </summary>
internal sealed partial class ClusterNode
{
    /// <summary>NATS header of a reply that carries an error instead of an answer.</summary>
    private const string ErrorHeader = "Broker-Error";

    // Nodes removed by force-leave, by token: their heartbeats of that incarnation are ignored (and they are told again
    // to leave); a restart (a new boot id) is a new node. Under _members' lock.
    private readonly Dictionary<string, ForcedOut> _forcedOut = new(StringComparer.Ordinal);

    /// <summary>
    /// Answers other nodes' <see cref="AskAsync"/> on this node (the management API's local part): the question's bytes
    /// in, the answer's out. Null: questions are not answered (the asker reports the node as not answering).
    /// </summary>
    public Func<byte[], CancellationToken, Task<byte[]>>? QueryHandler { get; init; }

    /// <summary>
    /// Called when another node force-leaves this one (again if it is told again before it is gone), on a NATS thread:
    /// it must not wait for this node to stop. The argument is the node that said so.
    /// </summary>
    public Action<string>? ForcedToLeave { get; init; }

    /// <summary>
    /// Asks every other node this node knows (or only <paramref name="onlyNode"/>) the same question at once, over NATS
    /// request/reply. A node that is down, or does not answer within <paramref name="timeout"/>, is an answer with an
    /// error: the caller reports it and never waits longer.
    /// </summary>
    public async Task<List<NodeAnswer>> AskAsync(byte[] question, string? onlyNode, TimeSpan timeout, CancellationToken cancel)
    {
        var answers = new List<NodeAnswer>();
        var asked = new List<Task<NodeAnswer>>();
        lock (_members)
        {
            foreach (var node in _members.Values.OrderBy(n => n.Name, StringComparer.Ordinal))
            {
                if (onlyNode is not null && node.Name != onlyNode)
                    continue;
                if (!node.IsUp)
                    answers.Add(new NodeAnswer(node.Name, null, "down (not heard within cluster.node_timeout)"));
                else if (!NatsConnected)
                    answers.Add(new NodeAnswer(node.Name, null, "this node's NATS connection is down"));
                else
                    asked.Add(AskOneAsync(node.Name, question, timeout, cancel));
            }
        }
        answers.AddRange(await Task.WhenAll(asked).ConfigureAwait(false));
        return answers;
    }

    /// <summary>Whether <paramref name="name"/> is another node of this cluster as this node knows it (running or down).</summary>
    public bool Knows(string name)
    {
        lock (_members)
            return _members.TryGetValue(_subjects.Token(name), out var node) && node.Name == name;
    }

    /// <summary>The routes this node holds for the other nodes (running ones; a down node's are withdrawn).</summary>
    public List<(string Filter, string Node)> RemoteRoutes()
    {
        var routes = new List<(string, string)>();
        lock (_members)
        {
            foreach (var node in _members.Values)
            {
                foreach (var filter in node.Routes)
                    routes.Add((filter, node.Name));
            }
        }
        return routes;
    }

    /// <summary>Leaves the cluster: the others are told (they forget this node at once), then this node disconnects.</summary>
    public ValueTask LeaveAsync() => StopAsync(ControlKind.Leave);

    /// <summary>
    /// EMQX's force-leave: forgets <paramref name="name"/> here (its routes withdrawn), and tells every node, the removed
    /// one included: the others forget it too, and it leaves if it runs. False if this node does not know it.
    /// </summary>
    public bool ForceLeave(string name)
    {
        var token = _subjects.Token(name);
        lock (_members)
        {
            if (!_members.TryGetValue(token, out var node) || node.Name != name)
                return false;
            ForgetForcedOut(token, node);
        }
        TellToLeave(name);
        LogForceLeave(_logger, name, NodeName);
        return true;
    }

    private void TellToLeave(string name)
    {
        // Numbered as the last route announcement before it, so it leaves no gap in this node's versions.
        lock (_routesLock)
            _control.Writer.TryWrite(new ControlMessage(ControlKind.ForceLeave, _routeVersion, name));
    }

    /// <summary>A leave or a force-leave said by another node.</summary>
    private void HandleLeave(string token, ControlMessage.Decoded message)
    {
        if (message.Kind == ControlKind.ForceLeave)
        {
            if (message.Filter == NodeName)
            {
                LogForcedToLeave(_logger, message.Name);
                ForcedToLeave?.Invoke(message.Name);
                return;
            }
            var target = _subjects.Token(message.Filter);
            lock (_members)
            {
                if (_members.TryGetValue(target, out var node) && node.Name == message.Filter)
                {
                    ForgetForcedOut(target, node);
                    LogForceLeave(_logger, node.Name, message.Name);
                }
            }
            return;
        }
        lock (_members)
        {
            if (!_members.TryGetValue(token, out var node) || node.Boot != message.Boot)
                return;
            Forget(token, node);
        }
        LogNodeLeftCluster(_logger, message.Name);
    }

    /// <summary>Caller holds <c>_members</c>' lock.</summary>
    private void ForgetForcedOut(string token, RemoteNode node)
    {
        Forget(token, node);
        _forcedOut[token] = new ForcedOut(node.Boot) { ToldAt = _core.TimeProvider.GetTimestamp() };
    }

    /// <summary>Caller holds <c>_members</c>' lock.</summary>
    private void Forget(string token, RemoteNode node)
    {
        Withdraw(node);
        ForgetForwards(node, "it left the cluster");
        node.IsUp = false;
        node.SyncGeneration++; // a snapshot still on its way is not applied
        node.SyncInFlight = false;
        _members.Remove(token);
    }

    /// <summary>
    /// A heartbeat of a node force-left in this incarnation: ignored, and it is told again (at most once per
    /// cluster.node_timeout), e.g. after a network split during which it was not there to hear it. Caller holds <c>_members</c>' lock.
    /// </summary>
    private bool IsForcedOut(string token, ControlMessage.Decoded heartbeat)
    {
        if (!_forcedOut.TryGetValue(token, out var removed))
            return false;
        if (removed.Boot != heartbeat.Boot)
        {
            _forcedOut.Remove(token); // restarted since: a node like any other
            return false;
        }
        var now = _core.TimeProvider.GetTimestamp();
        if (now - removed.ToldAt > _options.NodeTimeout.TotalSeconds * _core.TimeProvider.TimestampFrequency)
        {
            removed.ToldAt = now;
            TellToLeave(heartbeat.Name);
        }
        return true;
    }

    private async Task<NodeAnswer> AskOneAsync(string name, byte[] question, TimeSpan timeout, CancellationToken cancel)
    {
        try
        {
            var reply = await LargeReply.RequestAsync(_nats, _subjects.Api(_subjects.Token(name)), question, timeout, cancel).ConfigureAwait(false);
            if (reply.Headers is { } headers && headers.TryGetValue(ErrorHeader, out var error))
                return new NodeAnswer(name, null, error.ToString());
            return new NodeAnswer(name, reply.Data ?? [], null);
        }
        catch (NatsNoRespondersException)
        {
            return new NodeAnswer(name, null, "not answering (no responder on NATS)");
        }
        catch (NatsNoReplyException)
        {
            return new NodeAnswer(name, null, $"no answer within {timeout.TotalMilliseconds:0} ms");
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException or OperationCanceledException)
        {
            return new NodeAnswer(name, null, ex.Message);
        }
    }

    private async Task ServeQueriesAsync(CancellationToken cancel)
    {
        await foreach (var msg in _nats.SubscribeAsync<byte[]>(_subjects.Api(_subjects.Token(NodeName)), cancellationToken: cancel).ConfigureAwait(false))
        {
            if (QueryHandler is { } handler)
                _ = AnswerAsync(msg, handler, cancel);
        }
    }

    private async Task AnswerAsync(NatsMsg<byte[]> msg, Func<byte[], CancellationToken, Task<byte[]>> handler, CancellationToken cancel)
    {
        byte[] answer = [];
        string? error = null;
        try
        {
            answer = await handler(msg.Data ?? [], cancel).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            error = "failed: " + ex.Message;
        }
        try
        {
            if (error is null)
                await LargeReply.ReplyAsync(_nats, msg, answer, cancel).ConfigureAwait(false);
            else
                await msg.ReplyAsync(Array.Empty<byte>(), headers: new NatsHeaders { [ErrorHeader] = error }, cancellationToken: cancel).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NatsException or OperationCanceledException)
        {
        }
    }

    private sealed class ForcedOut(string boot)
    {
        public string Boot { get; } = boot;

        public long ToldAt { get; set; }
    }
}
