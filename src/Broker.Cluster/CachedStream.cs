using NATS.Client.JetStream;

namespace Broker.Cluster;

/// <summary>
/// A JetStream stream looked up once and kept for later reads, until JetStream says it does not know it (the bucket
/// was deleted, or deleted and created again): then it is dropped and looked up again, once, for the same read.
/// </summary>
/// <typeparam name="TStream">What the look-up returns (<see cref="INatsJSStream"/>; anything, in tests).</typeparam>
/// <remarks>
/// JetStream answers 404 both for "no message" (err_code 10037, an ordinary answer the caller handles) and "stream
/// not found" (err_code 10059); only the second drops the stream. Thread-safe: concurrent reads may look it up twice,
/// and a read that found it stale drops it only if no other read has replaced it meanwhile.
/// </remarks>
internal sealed class CachedStream<TStream>(Func<CancellationToken, ValueTask<TStream>> lookUp) where TStream : class
{
    /// <summary>JetStream's err_code for "stream not found".</summary>
    internal const int StreamNotFound = 10059;

    private TStream? _stream;

    /// <summary>The stream held now, or null before the first look-up or after one was dropped.</summary>
    public TStream? Held => Volatile.Read(ref _stream);

    /// <summary>Runs <paramref name="read"/> on the stream, looking it up first if none is held, and again if it is stale.</summary>
    public async Task<TResult> ReadAsync<TResult>(Func<TStream, Task<TResult>> read, CancellationToken cancel)
    {
        var stream = Held ?? await LookUpAsync(cancel).ConfigureAwait(false);
        try
        {
            return await read(stream).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (IsStreamNotFound(ex))
        {
            Interlocked.CompareExchange(ref _stream, null, stream);
        }
        stream = await LookUpAsync(cancel).ConfigureAwait(false);
        try
        {
            return await read(stream).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (IsStreamNotFound(ex))
        {
            Interlocked.CompareExchange(ref _stream, null, stream); // not there again: the next read looks it up again
            throw;
        }
    }

    /// <summary>Whether JetStream said it does not know the stream (not: that the stream has no such message).</summary>
    public static bool IsStreamNotFound(NatsJSApiException ex) => ex.Error.ErrCode == StreamNotFound;

    private async Task<TStream> LookUpAsync(CancellationToken cancel)
    {
        var stream = await lookUp(cancel).ConfigureAwait(false);
        Volatile.Write(ref _stream, stream);
        return stream;
    }
}
