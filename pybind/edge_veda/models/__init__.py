"""Model management: catalogs (catalog), verified resumable downloads (download), safe tarball
extraction (archive), a catalog server (server), and the model manager over the local cache
(manager: ModelManager, InstalledModel, pack). This package only re-exports."""
from . import archive, catalog
from .archive import ArchiveError, UnsafeArchiveError
from .catalog import CatalogEntry, CatalogError, check_name
from .download import ChecksumError, DiskSpaceError, DownloadError, Progress, RetryPolicy, download
from .manager import InstalledModel, ModelManager, pack

__all__ = ["ArchiveError", "CatalogEntry", "CatalogError", "ChecksumError", "DiskSpaceError", "DownloadError",
           "InstalledModel", "ModelManager", "Progress", "RetryPolicy", "UnsafeArchiveError", "pack"]
