using System.Globalization;
using NATS.Client.Core;

namespace Broker.Cluster;

/// <summary>
/// A reply that may be larger than NATS' <c>max_payload</c> (1 MB by default): a node's route table (tens of thousands
/// of filters), a session handed over with its queued messages, a node's page of <c>/clients</c>. Up to one part it
/// is an ordinary reply, so a node of an earlier version reads it as before; beyond, it goes to the asker's inbox as
/// numbered parts (header <see cref="PartHeader"/>: <c>i/n</c>), which one connection sends and NATS delivers in
/// order, and the asker joins them. A part missing (NATS lost it in a reconnect) fails the request as no reply would,
/// and the asker asks again as it does then.
/// </summary>
internal static class LargeReply
{
    public const string PartHeader = "Broker-Part";

    /// <summary>Bytes of one part: NATS' <c>max_payload</c> less room for the headers.</summary>
    public static int PartBytes(INatsConnection nats) => (int)Math.Max(1024, (nats.ServerInfo?.MaxPayload ?? 1_048_576) - 4096);

    /// <summary>Answers <paramref name="request"/> with <paramref name="whole"/>, in parts of <see cref="PartBytes"/> when it is larger.</summary>
    public static async ValueTask ReplyAsync(INatsConnection nats, NatsMsg<byte[]> request, byte[] whole, CancellationToken cancel)
    {
        var partBytes = PartBytes(nats);
        if (whole.Length <= partBytes)
        {
            await request.ReplyAsync(whole, cancellationToken: cancel).ConfigureAwait(false);
            return;
        }
        var count = (whole.Length + partBytes - 1) / partBytes;
        for (var i = 0; i < count; i++)
        {
            var part = whole.AsMemory(i * partBytes, Math.Min(partBytes, whole.Length - i * partBytes));
            var headers = new NatsHeaders { [PartHeader] = string.Create(CultureInfo.InvariantCulture, $"{i + 1}/{count}") };
            await request.ReplyAsync(part, headers, cancellationToken: cancel).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Asks <paramref name="subject"/> and returns its reply, joined from its parts if it came in parts (then without
    /// headers). Throws <see cref="NatsNoReplyException"/> when nothing, or not every part, came within
    /// <paramref name="timeout"/>, and <see cref="NatsNoRespondersException"/> when nobody listens there.
    /// </summary>
    public static async Task<NatsMsg<byte[]>> RequestAsync(INatsConnection nats, string subject, byte[] request, TimeSpan timeout, CancellationToken cancel)
    {
        List<ReadOnlyMemory<byte>>? parts = null;
        var count = 0;
        var opts = new NatsSubOpts { Timeout = timeout, StopOnEmptyMsg = false, ThrowIfNoResponders = true };
        await foreach (var msg in nats.RequestManyAsync<byte[], byte[]>(subject, request, replyOpts: opts, cancellationToken: cancel).ConfigureAwait(false))
        {
            if (msg.Headers is not { } headers || !headers.TryGetValue(PartHeader, out var label))
            {
                if (parts is null)
                    return msg; // the whole reply
                break;
            }
            if (!TryParsePart(label.ToString(), out var index, out var of) || index != (parts?.Count ?? 0) + 1 || (parts is not null && of != count))
                break; // out of order or not from this reply: a part went missing
            if (parts is null)
                (parts, count) = (new List<ReadOnlyMemory<byte>>(of), of);
            parts.Add(msg.Data ?? []);
            if (parts.Count == count)
            {
                var joined = new byte[parts.Sum(p => p.Length)];
                var at = 0;
                foreach (var part in parts)
                {
                    part.Span.CopyTo(joined.AsSpan(at));
                    at += part.Length;
                }
                return msg with { Data = joined, Headers = null, Size = joined.Length };
            }
        }
        throw new NatsNoReplyException();
    }

    private static bool TryParsePart(string label, out int index, out int count)
    {
        index = count = 0;
        var slash = label.IndexOf('/', StringComparison.Ordinal);
        return slash > 0
            && int.TryParse(label.AsSpan(0, slash), NumberStyles.None, CultureInfo.InvariantCulture, out index)
            && int.TryParse(label.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out count)
            && index >= 1 && index <= count;
    }
}
