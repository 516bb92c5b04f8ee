namespace Broker.Core.Persistence;

/// <summary>
/// The storage engine under <see cref="PersistenceJournal"/>: string keys (ordered), byte values, atomic batches. The
/// port the cluster can later put session state behind; the broker's engine is chosen by measurement (bench/README.md,
/// "Persistence store").
/// </summary>
public interface IPersistentStore : IDisposable
{
    /// <summary>
    /// Applies the puts (value set) and deletes (value null) as one atomic batch, durable on disk when it returns.
    /// Throws <see cref="IOException"/> when it cannot (disk full): nothing of the batch is applied then.
    /// </summary>
    void Apply(IReadOnlyCollection<KeyValuePair<string, byte[]?>> batch);

    /// <summary>Every key with its value, in ordinal key order (what a start restores).</summary>
    IEnumerable<KeyValuePair<string, byte[]>> ReadAll();

    /// <summary>Bytes the store takes on disk now.</summary>
    long SizeOnDisk { get; }
}

/// <summary>
/// A value put into the <see cref="PersistenceJournal"/>: kept as it is and encoded by the journal's writer only if it
/// reaches the disk (most outgoing messages are acknowledged first). It must not change once put.
/// </summary>
internal interface IJournalValue
{
    /// <summary>Writes the value's bytes, as the store will keep them.</summary>
    void WriteTo(BinaryWriter writer);
}
